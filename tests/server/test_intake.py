"""Group commit of submissions: concurrent requests share transactions but keep their own ids,
errors and meaning; every accepted request is audited."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from tessera.config import Settings
from tessera.errors import SpecError
from tessera.executors.hardware import detect
from tessera.jobfile import to_spec
from tessera.server import audit
from tessera.server.audit import GroupWriter
from tessera.server.intake import Intake, Request, alone, groups
from tessera.store import Store


def _req(*specs: dict[str, object]) -> Request:
    return Request("a", "default", [to_spec(dict(s)) for s in specs], {})


def test_groups_keep_names_and_references_apart() -> None:
    a = _req({"name": "x", "command": ["true"]})
    b = _req({"command": ["true"], "dependency": "afterok:x"})  # "x" means a job id here, not a's job
    c = _req({"command": ["true"]})
    d = _req({"name": "x", "command": ["true"]})
    assert groups([a, b, c, d]) == [[a, c], [b], [d]]
    assert alone([to_spec({"name": "p", "command": ["true"]}), to_spec({"command": ["true"], "dependency": "afterok:p"})])
    assert not alone([to_spec({"command": ["true"], "dependency": "afterok:12"})])


@pytest.fixture
def intake(home: Path) -> tuple[Intake, Store]:
    s = Settings.load()
    store = Store(s.db_url)
    return Intake(store, detect(s), GroupWriter(store), lambda *_: None), store


def test_concurrent_submissions_keep_their_own_ids_and_errors(intake: tuple[Intake, Store]) -> None:
    it, store = intake
    got: dict[int, list[int]] = {}
    errors: dict[int, BaseException] = {}
    barrier = threading.Barrier(12)

    def client(n: int) -> None:
        barrier.wait()
        for k in range(15):
            spec = {"name": f"c{n}-{k}", "command": ["true"]}
            if n == 5 and k == 7:
                spec["queue"] = "nope"  # refused: its own caller gets the error
            try:
                got.setdefault(n, []).extend(it.submit(f"t{n}", "default", [to_spec(spec)], {}))
            except SpecError as e:
                errors[n] = e

    threads = [threading.Thread(target=client, args=(n,)) for n in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert list(errors) == [5] and "unknown queue" in str(errors[5])
    all_ids = [i for ids in got.values() for i in ids]
    assert len(all_ids) == len(set(all_ids)) == 12 * 15 - 1
    for n, ids in got.items():  # each id is the job its caller named
        names = {store.job(i).spec.name for i in ids}
        assert all(name.startswith(f"c{n}-") for name in names)
    entries = audit.entries(store, limit=1000)
    assert len(entries) == len(all_ids) and audit.verify(store).ok
    assert sorted(int(e.target or 0) for e in entries) == sorted(all_ids)


def test_a_request_with_its_own_dependencies_goes_alone(intake: tuple[Intake, Store]) -> None:
    it, store = intake
    ids = it.submit("a", "default", [to_spec({"name": "p", "command": ["true"]}),
                                     to_spec({"name": "q", "command": ["true"], "dependency": "afterok:p"})], {})
    assert store.dependency_states([ids[1]])[ids[1]][0][:2] == ("afterok", ids[0])
