"""What a project has spent, as budgets read it at every submit: incremental (only new and open
attempts are read again), yet always equal to the sum over the project's whole ledger."""

from __future__ import annotations

import pytest

from tessera.cost import db, guard
from tessera.cost.ledger import Rate, attempt_cost
from tessera.models.spec import make_spec
from tessera.models.states import JobState
from tessera.store import Claim, End, NewJob, Store


def _from_scratch(store: Store, project: str, now: float) -> float:
    rates = db.rates(store)
    return sum(c.usd for r in db.attempt_rows(store, project=project) if (c := attempt_cost(r, rates, now)))


def _start(store: Store, project: str, n: int, at: float) -> list[tuple[int, int]]:
    ids = store.submit([NewJob(make_spec(command=["true"], project=project)) for _ in range(n)])
    return [(a.job_id, a.id) for a in store.start([Claim(j, "local", {"cpus": 1}) for j in ids], "ctl", 30, now=at)]


def _end(store: Store, started: list[tuple[int, int]], at: float) -> None:
    store.finish([End(aid, jid, "succeeded", JobState.SUCCEEDED, ended_at=at) for jid, aid in started])


def test_spend_is_incremental_and_equals_the_whole_ledger(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    db.add_rate(store, Rate(0.0, "box", 3600.0, 360.0, cpus=4, memory_mb=1024, gpus=0))
    read: list[int] = []
    rows = db.attempt_rows

    def counted(*a: object, **k: object) -> list[db.AttemptRow]:
        got = rows(*a, **k)  # type: ignore[arg-type]
        read.append(len(got))
        return got

    monkeypatch.setattr(db, "attempt_rows", counted)
    monkeypatch.setitem(guard.MARGIN_IDS, "postgresql", 2)  # small, so that the test sees rows fixed there too
    guard._spent.clear()
    first = _start(store, "p", 6, at=100.0)
    _start(store, "other", 3, at=100.0)  # another project's attempts never count
    _end(store, first[:4], at=110.0)  # two stay open
    spent = guard.spent_usd(store, "p", now=130.0)
    assert read[-1] == 6  # the first call reads the whole ledger
    assert spent == pytest.approx(_from_scratch(store, "p", 130.0))

    _end(store, first[4:5], at=140.0)  # one of the open ones ends; the other still runs
    later = _start(store, "p", 3, at=150.0)
    spent = guard.spent_usd(store, "p", now=160.0)
    assert read[-1] < 6 + 3  # the ended, fixed attempts are not read again
    assert spent == pytest.approx(_from_scratch(store, "p", 160.0))

    _end(store, [*first[5:], *later], at=170.0)
    assert guard.spent_usd(store, "p", now=999.0) == pytest.approx(_from_scratch(store, "p", 999.0))
    # 1 CPU of a 4-CPU $3600/h machine is $0.25 a second: 4 × 10 s + 40 s + 70 s + 3 × 20 s
    assert guard.spent_usd(store, "p", now=999.0) == pytest.approx(0.25 * (40 + 40 + 70 + 60))


def test_a_new_rate_starts_the_sum_over(store: Store) -> None:
    db.add_rate(store, Rate(0.0, "box", 3600.0, 360.0, cpus=4, memory_mb=1024, gpus=0))
    guard._spent.clear()
    _end(store, _start(store, "p", 2, at=100.0), at=110.0)
    assert guard.spent_usd(store, "p", now=200.0) == pytest.approx(0.25 * 20)
    db.add_rate(store, Rate(50.0, "box", 7200.0, 720.0, cpus=4, memory_mb=1024, gpus=0))  # in force from t=50
    assert guard.spent_usd(store, "p", now=200.0) == pytest.approx(0.5 * 20)
