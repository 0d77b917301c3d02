"""The reliability contract's helpers: counts (reduced in CI, full under ``make chaos``), a background
controller per test, and the check that no accepted job was lost or committed twice."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path

import psutil
import pytest
from sqlalchemy import func, select

from tessera.config import Settings
from tessera.controller import daemon
from tessera.executors import procs
from tessera.models.states import TERMINAL, JobState
from tessera.store import Store
from tessera.store import schema as t

FULL = os.environ.get("TESSERA_CHAOS") == "full"


def scale(ci: int, full: int) -> int:
    """A count: ``ci`` in the normal test run, ``full`` under ``make chaos`` (TESSERA_CHAOS=full)."""
    return full if FULL else ci


@pytest.fixture
def background(home: Path) -> Iterator[Settings]:
    s = Settings.load()
    yield s
    daemon.stop(s)


def check_contract(store: Store, ids: Sequence[int], ended: JobState | None = JobState.SUCCEEDED) -> dict[str, int]:
    """Every job ended (in ``ended`` when given), committed exactly one result from exactly one of its
    attempts, and left no attempt open. Returns counts for the report."""
    jobs = store.jobs(ids=list(ids), limit=len(ids) + 1)
    assert len(jobs) == len(ids), "a job disappeared"
    not_ended = [j.id for j in jobs if j.state not in TERMINAL]
    assert not not_ended, f"jobs never ended (lost): {not_ended[:10]}"
    if ended is not None:
        wrong = [(j.id, j.state.value, j.reason_detail) for j in jobs if j.state is not ended]
        assert not wrong, f"jobs ended otherwise: {wrong[:10]}"
    with store.engine.connect() as conn:
        per_job = dict(conn.execute(select(t.results.c.job_id, func.count()).where(
            t.results.c.job_id.in_(list(ids))).group_by(t.results.c.job_id)).all())
        committed = dict(conn.execute(select(t.results.c.job_id, t.results.c.attempt_id).where(
            t.results.c.job_id.in_(list(ids)))).all())
        succeeded = Counter(conn.execute(select(t.attempts.c.job_id).where(
            t.attempts.c.job_id.in_(list(ids)), t.attempts.c.state == "succeeded")).scalars())
        states = Counter(conn.execute(select(t.attempts.c.state).where(t.attempts.c.job_id.in_(list(ids)))).scalars())
    assert all(n == 1 for n in per_job.values()), "a job committed more than one result"
    if ended is JobState.SUCCEEDED:
        assert per_job == {i: 1 for i in ids}, "a succeeded job has no result"
        assert succeeded == Counter(set(ids)), "a job has more than one succeeded attempt"
        by_job = {j.id: j for j in jobs}
        for jid, aid in committed.items():
            assert any(a.id == aid and a.state == "succeeded" for a in store.attempts(jid)), (jid, by_job[jid])
    assert store.attempts(open_only=True) == [] or all(a.job_id not in set(ids) for a in store.attempts(open_only=True))
    return dict(states)


def leaked(settings: Settings) -> list[int]:
    """Processes still carrying an attempt marker of this store (after the controller stopped)."""
    prefix = procs.store_scope(settings.db_url) + "."
    out = []
    for p in psutil.process_iter():
        try:
            if p.pid != os.getpid() and p.environ().get(procs.MARKER, "").startswith(prefix):
                out.append(p.pid)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess, OSError):
            continue
    return out
