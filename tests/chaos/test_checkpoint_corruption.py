"""Corrupted checkpoints (truncated, bit-flipped, manifest swapped) are all detected, and the
previous generation is used (200 in CI and in ``make chaos``: it is cheap)."""

from __future__ import annotations

import random
import uuid
from pathlib import Path

from tessera.runtime.checkpoint import CheckpointStore
from tests.chaos.conftest import scale


def _corrupt(cs: CheckpointStore, kind: str, rng: random.Random) -> None:
    fs = cs.fs
    if kind == "truncated":
        data = fs.cat_file(cs._bin(2))
        fs.pipe_file(cs._bin(2), data[: rng.randrange(len(data))])
    elif kind == "bit-flipped":
        data = bytearray(fs.cat_file(cs._bin(2)))
        i = rng.randrange(len(data))
        data[i] ^= 1 << rng.randrange(8)
        fs.pipe_file(cs._bin(2), bytes(data))
    elif kind == "manifest swapped":  # generation 2 gets generation 1's manifest
        fs.pipe_file(cs._manifest(2), fs.cat_file(cs._manifest(1)))
    elif kind == "manifest of another job":
        other = CheckpointStore(cs.url, cs.key + "x")
        other.save(b"z" * 10)
        other.save(b"y" * 10)
        fs.pipe_file(cs._manifest(2), fs.cat_file(other._manifest(2)))
    elif kind == "manifest garbage":
        fs.pipe_file(cs._manifest(2), b"\x00{not json")
    else:
        raise AssertionError(kind)


KINDS = ("truncated", "bit-flipped", "manifest swapped", "manifest of another job", "manifest garbage")


def test_every_corrupted_checkpoint_is_detected(tmp_path: Path) -> None:
    n = scale(200, 200)
    rng = random.Random(5)
    detected = 0
    for i in range(n):
        url = f"memory://c{uuid.uuid4().hex}" if i % 2 else f"file://{tmp_path}/c{i}"
        cs = CheckpointStore(url, f"job{i}")
        old = rng.randbytes(rng.randrange(1, 4096))
        new = rng.randbytes(rng.randrange(1, 4096))
        cs.save(old)
        cs.save(new)
        kind = KINDS[i % len(KINDS)]
        _corrupt(cs, kind, rng)
        got = cs.load()
        assert got.data == old, (i, kind)
        assert got.corrupt and got.corrupt[0][0] == 2, (i, kind)
        detected += 1
    assert detected == n


def test_both_generations_corrupt_means_no_checkpoint(tmp_path: Path) -> None:
    cs = CheckpointStore(str(tmp_path), "j")
    cs.save(b"one")
    cs.save(b"two")
    cs.fs.pipe_file(cs._bin(1), b"onX")
    cs.fs.pipe_file(cs._bin(2), b"t")
    got = cs.load()
    assert got.data is None and [g for g, _ in got.corrupt] == [2, 1]
