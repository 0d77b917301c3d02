"""The Store contract, run against SQLite and a real PostgreSQL: submit, claim, fence, move, cancel."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import func, select

from tessera.errors import NotFoundError, SpecError
from tessera.models.spec import ArraySpec, make_spec
from tessera.models.states import TERMINAL, TRANSITIONS, JobState, Reason
from tessera.store import Claim, End, Move, NewJob, Store
from tessera.store import schema as t

S = JobState


def spec(**kw):  # type: ignore[no-untyped-def]
    return make_spec(**{"command": ["true"], **kw})


def one(store: Store, **kw) -> int:  # type: ignore[no-untyped-def]
    return store.submit([NewJob(spec(**kw))])[0]


def result_rows(store: Store, job_id: int) -> int:
    with store.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(t.results).where(t.results.c.job_id == job_id)).scalar_one()


def job_rows(store: Store) -> int:
    with store.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(t.jobs)).scalar_one()


def claim(store: Store, job_id: int, owner: str = "ctl-a", lease_s: float = 30.0):  # type: ignore[no-untyped-def]
    got = store.start([Claim(job_id, "local", {"cpus": 1, "memory_mb": None, "gpus": []})], owner, lease_s)
    assert len(got) == 1
    return got[0]


def end(att, dst: JobState = S.SUCCEEDED, status: str = "succeeded", **kw) -> End:  # type: ignore[no-untyped-def]
    return End(att.id, att.job_id, status, dst, ended_at=time.time(), **kw)


def assert_legal_history(store: Store, job_id: int) -> None:
    evs = store.events(job_id)
    # a job's journal opens at submitted; an array element's opens at the state it was created in
    first = {"submitted"} if store.job(job_id).array_id is None else {"pending", "runnable"}
    assert evs[0].src is None and evs[0].dst in first
    for e in evs[1:]:
        assert S(e.dst) in TRANSITIONS[S(e.src)], f"illegal {e.src} -> {e.dst} in job {job_id}"
    for a, b in zip(evs, evs[1:], strict=False):
        assert b.src == a.dst, f"history of {job_id} is not a chain: {a} then {b}"


# ---------------------------------------------------------------- submit


def test_submit_and_read_back(store: Store) -> None:
    jid = one(store, name="hello", priority=3, tags={"k": "v"}, resources={"cpus": 2, "memory_mb": 64})
    job = store.job(jid)
    assert job.state is S.RUNNABLE and job.reason is None
    assert job.spec.name == "hello" and job.spec.priority == 3 and job.spec.tags == {"k": "v"}
    assert job.spec.resources.cpus == 2 and job.spec.resources.memory_mb == 64
    assert job.attempts == 0 and job.lease_token is None and not job.cancel_requested
    assert [(e.src, e.dst) for e in store.events(jid)] == [(None, "submitted"), ("submitted", "pending"),
                                                          ("pending", "runnable")]
    assert store.job(str(jid)).id == jid


def test_payload_round_trips(store: Store) -> None:
    blob = bytes(range(256)) * 100
    jid = store.submit([NewJob(make_spec(payload=blob))])[0]
    assert store.payload(jid) == blob
    assert store.job(jid).spec.kind == "pickle"


def test_unknown_job(store: Store) -> None:
    with pytest.raises(NotFoundError):
        store.job(999_999)
    with pytest.raises(NotFoundError):
        store.job("1_5")


def test_dependency_holds_a_job_pending(store: Store) -> None:
    a = one(store)
    b = store.submit([NewJob(spec(), (("afterok", a),))])[0]
    job = store.job(b)
    assert job.state is S.PENDING and job.reason is Reason.DEPENDENCY
    assert store.dependency_states([b]) == {b: [("afterok", a, "runnable")]}
    assert store.dependents([a]) == [b]
    assert b in store.waiting_on_deps(0)
    assert store.waiting_on_deps(b) == []


def test_batch_references(store: Store) -> None:
    ids = store.submit([NewJob(spec(name="a")), NewJob(spec(name="b"), (("afterany", ("batch", 0)),))])
    assert store.dependency_states([ids[1]])[ids[1]] == [("afterany", ids[0], "runnable")]


@pytest.mark.parametrize("bad", ["missing dependency", "unknown queue", "aftercorr on a plain job"])
def test_bad_submit_stores_nothing(store: Store, bad: str) -> None:
    before = job_rows(store)
    good = NewJob(spec(name="fine"))
    if bad == "missing dependency":
        item = NewJob(spec(), (("afterok", 987654),))
    elif bad == "unknown queue":
        item = NewJob(spec(queue="nosuchqueue"))
    else:
        item = NewJob(spec(), (("aftercorr", ("batch", 0)),))
    with pytest.raises(SpecError) as err:
        store.submit([good, item])
    assert "To fix:" in str(err.value)
    assert job_rows(store) == before  # the whole batch rolled back


def test_array_of_1000(store: Store) -> None:
    jid = store.submit([NewJob(spec(array=ArraySpec.parse("0-999%10", 5)))])[0]
    parent = store.job(jid)
    assert parent.is_array and parent.counts == {"size": 1000, "done": 0, "failed": 0, "cancelled": 0}
    elements = store.jobs(array_id=jid, limit=10_000)
    assert len(elements) == 1000
    assert sorted(e.array_index for e in elements) == list(range(1000))
    assert all(e.state is S.RUNNABLE and e.array_id == jid for e in elements)
    assert store.element_counts(jid) == {"runnable": 1000}
    assert store.job(f"{jid}_999").array_index == 999
    assert store.job(f"{jid}_5").ref == f"{jid}_5"
    assert store.array_limits([jid]) == {jid: (10, 5, 0)}
    cands = store.candidates(50)
    assert len(cands) == 50 and all(c.array_id == jid for c in cands)  # elements, never the parent
    assert store.jobs() == [parent] or [j.id for j in store.jobs()] == [jid]  # ls hides elements


def test_array_elements_share_the_spec(store: Store) -> None:
    jid = store.submit([NewJob(spec(name="arr", array=ArraySpec.parse("3,5")))])[0]
    e = store.job(f"{jid}_5")
    assert e.spec.name == "arr" and e.name == "arr[5]"


def test_candidates_order(store: Store) -> None:
    store.create_queue("urgent", 10)
    low = one(store, priority=-1)
    mid = one(store)
    high = one(store, priority=5)
    mid2 = one(store)
    urgent = one(store, queue="urgent", priority=-100)
    assert [c.id for c in store.candidates(10)] == [urgent, high, mid, mid2, low]


def test_create_queue_refuses_bad_names(store: Store) -> None:
    for name in ["Bad", "a b", "x\n", ""]:
        with pytest.raises(SpecError):
            store.create_queue(name)
    assert set(store.queues()) == {"default"}


# ---------------------------------------------------------------- start, running, finish


def test_start_running_finish(store: Store) -> None:
    jid = one(store)
    att = claim(store, jid)
    job = store.job(jid)
    assert job.state is S.STARTING and job.lease_token == att.id and job.attempts == 1 and att.number == 1
    assert store.start([Claim(jid, "local", {})], "ctl-b", 30) == []  # not runnable any more
    store.running([(jid, att.id, time.time(), 4242, "/tmp/o", "/tmp/e")])
    assert store.job(jid).state is S.RUNNING
    assert store.attempts(jid)[0].pid == 4242
    assert store.finish([end(att, result_encoding="json", result=b"42", exit_code=0)]) == [jid]
    job = store.job(jid)
    assert job.state is S.SUCCEEDED and job.lease_token is None and job.exit_code == 0 and job.ended_at
    assert store.result(jid) == ("json", b"42", None)
    assert result_rows(store, jid) == 1
    a = store.attempts(jid)[0]
    assert a.state == "succeeded" and a.ended_at is not None
    assert [e.dst for e in store.events(jid)] == ["submitted", "pending", "runnable", "starting", "running", "succeeded"]
    assert_legal_history(store, jid)


def test_second_finish_commits_nothing(store: Store) -> None:
    jid = one(store)
    att = claim(store, jid)
    assert store.finish([end(att, result=b"1", result_encoding="json")]) == [jid]
    assert store.finish([end(att, result=b"2", result_encoding="json")]) == []
    assert store.finish([end(att, S.FAILED, "failed")]) == []
    assert store.result(jid) == ("json", b"1", None)
    assert result_rows(store, jid) == 1
    assert store.job(jid).state is S.SUCCEEDED


def test_stale_token_is_fenced(store: Store) -> None:
    jid = one(store)
    first = claim(store, jid, "ctl-a")
    # the first attempt is declared lost and the job requeued
    assert store.finish([end(first, S.RUNNABLE, "lost", reason=Reason.WORKER_LOST, infra_inc=1)]) == [jid]
    assert store.job(jid).state is S.RUNNABLE and store.job(jid).infra_retries_used == 1
    second = claim(store, jid, "ctl-b")
    assert second.id != first.id and second.number == 2
    # the first attempt's process comes back late with a result: fenced
    assert store.finish([end(first, result=b'"late"', result_encoding="json")]) == []
    assert store.job(jid).state is S.STARTING and store.job(jid).lease_token == second.id
    assert result_rows(store, jid) == 0
    assert store.finish([end(second, result=b'"ok"', result_encoding="json")]) == [jid]
    assert store.finish([end(first, result=b'"late again"', result_encoding="json")]) == []
    assert store.result(jid) == ("json", b'"ok"', None)
    assert result_rows(store, jid) == 1
    job = store.job(jid)
    assert job.attempts == 2 and job.state is S.SUCCEEDED
    states = {a.id: a.state for a in store.attempts(jid)}
    assert states[first.id] == "lost" and states[second.id] == "succeeded"
    assert_legal_history(store, jid)


def test_stale_running_update_is_ignored(store: Store) -> None:
    jid = one(store)
    first = claim(store, jid)
    store.finish([end(first, S.RUNNABLE, "lost", reason=Reason.WORKER_LOST)])
    second = claim(store, jid)
    store.running([(jid, first.id, time.time(), 1, None, None)])
    assert store.job(jid).state is S.STARTING
    store.running([(jid, second.id, time.time(), 2, None, None)])
    assert store.job(jid).state is S.RUNNING


def test_finish_after_cancel_is_fenced(store: Store) -> None:
    jid = one(store)
    att = claim(store, jid)
    assert store.move([Move(jid, S.CANCELLED, frozenset({S.STARTING, S.RUNNING}), Reason.CANCELLED_BY_USER)]) == [jid]
    assert store.finish([end(att)]) == []
    assert store.job(jid).state is S.CANCELLED
    assert [a.state for a in store.attempts(jid)] == ["fenced"]


def test_retry_with_backoff(store: Store) -> None:
    jid = one(store)
    att = claim(store, jid)
    nb = time.time() + 3600
    store.finish([end(att, S.PENDING, "failed", reason=Reason.BACKOFF, not_before_at=nb, retries_inc=1, exit_code=1)])
    job = store.job(jid)
    assert job.state is S.PENDING and job.reason is Reason.BACKOFF and job.retries_used == 1
    assert result_rows(store, jid) == 0
    due, nxt = store.due_backoffs(time.time())
    assert due == [] and nxt == pytest.approx(nb)
    due, _ = store.due_backoffs(nb + 1)
    assert due == [jid]


def test_many_claims_in_one_call(store: Store) -> None:
    ids = [one(store) for _ in range(20)]
    got = store.start([Claim(i, "local", {}) for i in ids], "ctl", 30)
    assert sorted(a.job_id for a in got) == ids
    assert len({a.id for a in got}) == 20
    assert all(store.job(i).lease_token == a.id for i, a in zip(sorted(ids), sorted(got, key=lambda a: a.job_id), strict=True))
    assert store.finish([end(a) for a in got]) == [a.job_id for a in got]
    assert all(result_rows(store, i) == 1 for i in ids)


# ---------------------------------------------------------------- moves and cancels


def test_move_is_fenced_by_the_source_state(store: Store) -> None:
    jid = one(store)
    assert store.move([Move(jid, S.RUNNABLE, frozenset({S.PENDING}))]) == []
    assert store.job(jid).state is S.RUNNABLE
    assert store.move([Move(jid, S.CANCELLED, frozenset({S.RUNNABLE}), Reason.CANCELLED_BY_USER, "x")]) == [jid]
    assert store.move([Move(jid, S.RUNNABLE, frozenset({S.CANCELLED, S.PENDING}) - {S.CANCELLED})]) == []
    job = store.job(jid)
    assert job.state is S.CANCELLED and job.reason is Reason.CANCELLED_BY_USER and job.ended_at is not None
    assert store.events(jid)[-1].src == "runnable" and store.events(jid)[-1].dst == "cancelled"
    assert_legal_history(store, jid)


def test_move_unknown_job_is_ignored(store: Store) -> None:
    assert store.move([Move(999_999, S.CANCELLED, frozenset({S.RUNNABLE}))]) == []


def test_request_cancel(store: Store) -> None:
    a, b = one(store), one(store)
    arr = store.submit([NewJob(spec(array=ArraySpec.parse("0-4")))])[0]
    att = claim(store, b)
    store.finish([end(att)])
    n = store.request_cancel([a, b, arr])
    assert n == 1 + 1 + 5  # a, the array row and its 5 elements; b is already terminal
    assert store.job(a).cancel_requested and not store.job(b).cancel_requested
    assert all(e.cancel_requested for e in store.jobs(array_id=arr))
    assert {i for i, _ in store.cancel_requests()} == {a, arr, *(e.id for e in store.jobs(array_id=arr))}
    # a job flagged for cancellation is never claimed
    assert store.start([Claim(a, "local", {})], "ctl", 30) == []


def test_array_ends_when_all_elements_end(store: Store) -> None:
    arr = store.submit([NewJob(spec(array=ArraySpec.parse("0-2")))])[0]
    els = sorted(store.jobs(array_id=arr), key=lambda j: j.array_index or 0)
    atts = [claim(store, e.id) for e in els]
    assert store.job(arr).state is S.RUNNING
    store.finish([end(atts[0]), end(atts[1], S.FAILED, "failed", reason=Reason.EXIT_CODE, exit_code=1)])
    assert store.job(arr).state is S.RUNNING
    assert store.job(arr).counts["done"] == 2
    store.finish([end(atts[2])])
    parent = store.job(arr)
    assert parent.state is S.FAILED and parent.counts == {"size": 3, "done": 3, "failed": 1, "cancelled": 0}
    assert_legal_history(store, arr)
    for e in els:
        assert_legal_history(store, e.id)
        assert result_rows(store, e.id) == 1


def test_array_cancelled_after_some_elements_succeeded_is_cancelled(store: Store) -> None:
    arr = store.submit([NewJob(spec(array=ArraySpec.parse("0-2")))])[0]
    els = sorted(store.jobs(array_id=arr), key=lambda j: j.array_index or 0)
    store.finish([end(claim(store, els[0].id))])
    store.move([Move(e.id, S.CANCELLED, frozenset({S.RUNNABLE}), Reason.CANCELLED_BY_USER) for e in els[1:]])
    parent = store.job(arr)
    assert parent.state is S.CANCELLED and parent.counts["cancelled"] == 2
    assert_legal_history(store, arr)


def test_array_all_cancelled(store: Store) -> None:
    arr = store.submit([NewJob(spec(array=ArraySpec.parse("0-1")))])[0]
    els = store.jobs(array_id=arr)
    store.move([Move(e.id, S.CANCELLED, frozenset({S.RUNNABLE}), Reason.CANCELLED_BY_USER) for e in els])
    assert store.job(arr).state is S.CANCELLED
    assert_legal_history(store, arr)


# ---------------------------------------------------------------- leases, controllers, migrations


def test_expired_leases(store: Store) -> None:
    jid = one(store)
    att = claim(store, jid, "ctl-a", lease_s=30)
    now = time.time()
    assert store.expired_attempts(now) == []
    assert [a.id for a in store.expired_attempts(now, exclude_owner="ctl-b")] == [att.id]  # another owner's
    assert store.expired_attempts(now, exclude_owner="ctl-a") == []
    assert [a.id for a in store.expired_attempts(now + 60)] == [att.id]
    store.renew_leases("ctl-a", 600, now)
    assert store.expired_attempts(now + 60) == []
    store.finish([end(att)])
    assert store.expired_attempts(now + 10_000, exclude_owner="x") == []


def test_controller_registry(store: Store) -> None:
    store.register_controller("c1", 123, "host", time.time())
    store.controller_beat("c1", {"pid": 123, "executors": []})
    got = store.latest_controller()
    assert got is not None and got["id"] == "c1" and got["status"]["pid"] == 123 and got["stopped_at"] is None
    store.controller_beat("c1", {}, stopped=True)
    assert store.latest_controller()["stopped_at"] is not None  # type: ignore[index]


def test_migrations_are_idempotent(db_url: str) -> None:
    first = Store(db_url)
    jid = first.submit([NewJob(spec(name="kept"))])[0]
    second = Store(db_url)
    third = Store(db_url)
    try:
        with third.engine.connect() as conn:
            assert t.schema_version(conn) == len(t.MIGRATIONS)
            assert conn.execute(select(func.count()).select_from(t.meta)).scalar_one() == 1
        assert set(third.queues()) == {"default"}
        assert second.job(jid).spec.name == "kept"
    finally:
        for s in (first, second, third):
            s.close()


def test_counts(store: Store) -> None:
    one(store)
    jid = one(store)
    store.finish([end(claim(store, jid))])
    store.submit([NewJob(spec(array=ArraySpec.parse("0-9")))])
    counts = store.counts()
    assert counts.get("runnable", 0) >= 1 and counts.get("succeeded") == 1
    assert all(S(k) for k in counts)
    assert not any(S(k) in TERMINAL and k != "succeeded" for k in counts)


def test_a_job_listed_twice_moves_once(store: Store) -> None:
    arr = store.submit([NewJob(spec(array=ArraySpec.parse("0-1")))])[0]
    els = store.jobs(array_id=arr)
    moves = [Move(e.id, S.CANCELLED, frozenset({S.RUNNABLE}), Reason.CANCELLED_BY_USER) for e in els]
    assert sorted(store.move(moves + moves)) == sorted(e.id for e in els)
    parent = store.job(arr)
    assert parent.state is S.CANCELLED and parent.counts == {"size": 2, "done": 2, "failed": 2, "cancelled": 2}
    for e in els:
        assert [ev.dst for ev in store.events(e.id)].count("cancelled") == 1


def test_an_outcome_listed_twice_commits_once(store: Store) -> None:
    jid = one(store)
    att = claim(store, jid)
    assert store.finish([end(att), end(att)]) == [jid]
    assert result_rows(store, jid) == 1
    assert [ev.dst for ev in store.events(jid)].count("succeeded") == 1
