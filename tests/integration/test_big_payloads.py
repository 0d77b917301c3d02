"""Large payloads (a function that captured megabytes, large map items): kept out of the job rows
(schema v8, ``payloads``), so a job's state changes never rewrite them; and sent to a local worker
once per array, not with every element."""

from __future__ import annotations

import os
import pickle
import sqlite3
from pathlib import Path

import cloudpickle
import numpy as np
from sqlalchemy import text

from tessera.client import Client
from tessera.executors import worker
from tessera.executors.base import Launch
from tessera.executors.local import LocalExecutor
from tessera.models.spec import ArraySpec, make_spec
from tessera.models.states import JobState
from tessera.scheduler.decide import Capacity, Placement
from tessera.store import Claim, End, NewJob, Store
from tessera.store import schema as t

BIG = os.urandom(3 * t.PAYLOAD_INLINE_MAX)
SMALL = b"small"


def _in_rows(store: Store) -> dict[int, bytes | None]:
    with store.engine.connect() as conn:
        return {r[0]: r[1] for r in conn.exec_driver_sql("SELECT id, payload FROM jobs")}


def _out_of_rows(store: Store) -> dict[int, bytes]:
    with store.engine.connect() as conn:
        return {r[0]: bytes(r[1]) for r in conn.exec_driver_sql("SELECT job_id, data FROM payloads")}


def test_large_payloads_live_out_of_their_rows_and_launch_as_before(store: Store) -> None:
    single, small = store.submit([NewJob(make_spec(payload=BIG)), NewJob(make_spec(payload=SMALL))])
    arr_spec = make_spec(payload=BIG).model_copy(update={"array": ArraySpec.of_size(3)})
    (arr,) = store.submit([NewJob(arr_spec, element_payloads=(BIG[::-1], SMALL, b"e" * 10))])
    rows, out = _in_rows(store), _out_of_rows(store)
    elements = sorted(store.jobs(array_id=arr, elements=True, limit=10), key=lambda j: j.array_index or 0)
    assert rows[single] is None and out[single] == BIG
    assert rows[small] == SMALL and small not in out
    assert rows[arr] is None and out[arr] == BIG
    assert rows[elements[0].id] is None and out[elements[0].id] == BIG[::-1]
    assert rows[elements[1].id] == SMALL and rows[elements[2].id] == b"e" * 10
    assert store.payload(single) == BIG and store.payload(small) == SMALL
    assert store.payload(elements[0].id) == BIG[::-1]

    launch: dict[int, tuple[object, bytes | None, bytes | None]] = {}
    ids = [single, small, *(e.id for e in elements)]
    got = store.start([Claim(i, "local", {}) for i in ids], "ctl", 30, launch=launch)
    assert len(got) == 5
    assert launch[single][1:] == (BIG, None) and launch[small][1:] == (SMALL, None)
    assert launch[elements[0].id][1:] == (BIG[::-1], BIG)
    assert launch[elements[1].id][1:] == (SMALL, BIG)


def test_state_changes_of_a_job_with_a_large_payload_do_not_rewrite_it(tmp_path: Path) -> None:
    """SQLite rewrites a whole row for any change of it: a megabyte payload in the row would put a
    megabyte in the write-ahead log for each state change (and, for an array, each committed batch).
    Here 20 writes to the row of an array with a 4 MB payload: 80 MB of log in the row, well under
    4 MB out of it (each small transaction writes a few pages)."""
    url = f"sqlite:///{tmp_path / 'store.db'}"
    store = Store(url)
    try:
        payload = os.urandom(4 << 20)
        spec = make_spec(payload=payload).model_copy(update={"array": ArraySpec.of_size(10)})
        (arr,) = store.submit([NewJob(spec)])
        elements = [j.id for j in store.jobs(array_id=arr, elements=True, limit=100)]
        reader = sqlite3.connect(tmp_path / "store.db")  # an open read keeps the log from being reset
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM jobs").fetchone()
        wal = tmp_path / "store.db-wal"
        before = wal.stat().st_size
        for jid in elements:  # each element claimed and committed on its own: 20 writes to the array's row
            (a,) = store.start([Claim(jid, "local", {})], "ctl", 30)
            store.finish([End(a.id, jid, "succeeded", JobState.SUCCEEDED, ended_at=1.0)])
        assert store.job(arr).state is JobState.SUCCEEDED
        grown = wal.stat().st_size - before
        assert grown < len(payload), f"the log grew by {grown} bytes for 20 small writes"
        reader.close()
    finally:
        store.close()


def test_a_v7_store_moves_its_large_payloads_out_of_the_rows(db_url: str) -> None:
    old = Store(db_url)
    big, small = old.submit([NewJob(make_spec(payload=SMALL)), NewJob(make_spec(payload=SMALL))])
    with old.engine.begin() as conn:  # as v7 left it: every payload in its row, no payloads table
        conn.execute(text("DROP TABLE payloads"))
        conn.execute(text("UPDATE jobs SET payload = :p WHERE id = :i"), {"p": BIG, "i": big})
        conn.execute(text("UPDATE meta SET value = '7' WHERE key = 'schema_version'"))
    old.close()
    new = Store(db_url)
    try:
        with new.engine.connect() as conn:
            assert t.schema_version(conn) == len(t.MIGRATIONS)
        assert _in_rows(new)[big] is None and _out_of_rows(new) == {big: BIG}
        assert new.payload(big) == BIG and new.payload(small) == SMALL
    finally:
        new.close()


def _msg(attempt_id: int, payload: bytes | None, kept: bool = False) -> bytes:
    return pickle.dumps({"attempt_id": attempt_id, "array_payload": payload, "array_kept": kept})


def test_a_worker_resolves_kept_payloads_in_the_order_messages_arrive() -> None:
    """Resolved on arrival, not when run: an element queued behind a new array's first element
    still gets its own array's payload, and a skipped first element still leaves its payload."""
    import collections

    inbox: collections.deque[dict[str, object]] = collections.deque()
    skipped: set[int] = set()
    for raw in (_msg(1, b"P1"), _msg(2, None, kept=True), _msg(3, b"P2"), _msg(4, None, kept=True)):
        worker._take(raw, inbox, skipped)
    worker._take(pickle.dumps({"op": "skip", "attempt_id": 1}), inbox, skipped)
    assert [m["array_payload"] for m in inbox] == [b"P1", b"P1", b"P2", b"P2"]
    assert inbox[0]["array_payload"] is inbox[1]["array_payload"]  # one object: compared by identity
    assert skipped == {1}


def _element(attempt_id: int, index: int, body: bytes, tmp: Path) -> Launch:
    return Launch(attempt_id=attempt_id, job_id=attempt_id, ref=f"9_{index}", kind="pickle",
                  placement=Placement(1, 1, None, ()), payload=cloudpickle.dumps(index), array_payload=body,
                  array_id=9, array_index=index, stdout_path=str(tmp / f"{index}.out"),
                  stderr_path=str(tmp / f"{index}.err"), scratch_dir=str(tmp / f"s{index}"))


def _scaled(x: int, data: np.ndarray) -> float:
    return float(data[x] * 2)


def test_the_local_executor_sends_an_array_payload_once_per_worker(tmp_path: Path) -> None:
    data = np.arange(200_000, dtype=np.float64)  # 1.6 MB captured by the function
    body = cloudpickle.dumps({"fn": _scaled, "args": (data,), "kwargs": {}})
    ex = LocalExecutor(Capacity(1, 1024), workers=1, kill_grace_s=1)
    try:
        w = ex._workers[0]
        ex.launch(_element(1, 0, body, tmp_path))
        for n in (2, 3):
            ex.launch(_element(n, n - 1, body, tmp_path), queued=True)
        again = bytes(bytearray(body))  # equal, but another object: sent again (only identity is trusted)
        ex.launch(_element(4, 3, again, tmp_path), queued=True)
        sent = [pickle.loads(m) for m in w.out]
        assert [len(m["array_payload"] or b"") for m in sent] == [len(body), 0, 0, len(body)]
        assert [m["array_kept"] for m in sent] == [False, True, True, False]
        outcomes: list = []
        while len(outcomes) < 4:
            outcomes += ex.poll(0.5)[1]
        assert {o.attempt_id: (o.status, o.result) for o in outcomes} == {
            n: ("succeeded", str(float(n - 1) * 2).encode()) for n in (1, 2, 3, 4)}
    finally:
        ex.close(1)


def test_map_over_a_function_that_captured_megabytes(tmp_path: Path) -> None:
    data = np.arange(1_000_000, dtype=np.float64)  # 8 MB

    def pick(i: int) -> float:
        return float(data[i * 1000])

    with Client(home=str(tmp_path / "home"), embedded=True, workers=2, cpus=2) as c:
        assert c.map(pick, range(200)) == [float(i * 1000) for i in range(200)]
