"""The artifact store: content addressing, values by type, manifests, and a non-local fsspec URL."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import numpy as np
import pytest

from tessera.errors import SpecError
from tessera.workflows.artifacts import ArtifactStore, Ref


@pytest.fixture(params=["local", "memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ArtifactStore:
    if request.param == "local":
        return ArtifactStore(str(tmp_path / "arts"))
    return ArtifactStore(f"memory://tessera-{uuid.uuid4().hex}")


def test_values_round_trip_by_type(store: ArtifactStore, tmp_path: Path) -> None:
    data = np.random.default_rng(3).standard_normal((5, 7))
    ref = store.put_value(data, "array")
    assert ref.type == "array" and len(ref.sha256) == 64
    np.testing.assert_array_equal(store.load(ref), data)
    js = store.put_value({"b": [1, 2.5], "a": "x"}, "json")
    assert store.load(js) == {"a": "x", "b": [1, 2.5]}
    f = tmp_path / "in.txt"
    f.write_text("hello")
    fr = store.put_value(str(f), "file")
    assert Path(store.load(fr, str(tmp_path / "scratch"))).read_text() == "hello"


def test_content_addressing_deduplicates(store: ArtifactStore) -> None:
    a = store.put_value({"k": 1}, "json")
    b = store.put_value({"k": 1}, "json")
    c = store.put_value({"k": 2}, "json")
    assert a == b and a.sha256 != c.sha256
    assert Ref.from_json(a.to_json()) == a


def test_local_objects_are_read_only(tmp_path: Path) -> None:
    store = ArtifactStore(str(tmp_path / "arts"))
    ref = store.put_value([1, 2], "json")
    path = store.local_path(ref)
    assert not os.access(path, os.W_OK) or os.geteuid() == 0
    assert oct(os.stat(path).st_mode & 0o777) == "0o444"


def test_manifests_tell_what_finished(store: ArtifactStore) -> None:
    ref = store.put_value(np.arange(3), "array")
    store.write_manifest("k1", {"out": ref.to_json()})
    assert store.finished(["k1", "k2"]) == {"k1"}
    assert store.outputs("k1") == {"out": ref}
    store.fs.rm(store._object(ref.sha256))  # a lost object makes the step unfinished
    assert store.finished(["k1"]) == set()
    with pytest.raises(SpecError, match="To fix"):
        store.outputs("k2")


def test_a_file_output_must_be_a_file(store: ArtifactStore, tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="path of a file"):
        store.put_value(str(tmp_path / "missing"), "file")


def test_an_unknown_protocol_is_a_clear_error() -> None:
    with pytest.raises(SpecError, match="To fix"):
        ArtifactStore("nosuchproto://bucket/x")
