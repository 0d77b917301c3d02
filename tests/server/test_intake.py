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
from tessera.server.intake import Intake, Request, groups
from tessera.store import Store


def _req(*specs: dict[str, object]) -> Request:
    return Request("a", "default", [to_spec(dict(s)) for s in specs], {})


def test_groups_keep_names_and_references_apart() -> None:
    a = _req({"name": "x", "command": ["true"]})
    b = _req({"command": ["true"], "dependency": "afterok:x"})  # "x" means a job id here, not a's job
    c = _req({"command": ["true"]})
    d = _req({"name": "x", "command": ["true"]})
    assert groups([a, b, c, d]) == [[a, c], [b], [d]]
    assert Request("a", "p", [to_spec({"name": "p", "command": ["true"]}),
                              to_spec({"command": ["true"], "dependency": "afterok:p"})], {}).alone()
    assert not Request("a", "p", [to_spec({"command": ["true"], "dependency": "afterok:12"})], {}).alone()


@pytest.fixture
def intake(home: Path) -> tuple[Intake, Store]:
    s = Settings.load()
    store = Store(s.db_url)
    return Intake(store, detect(s), lambda *_: None), store


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


def _count(store: Store) -> int:
    return len(store.jobs())


def test_jobs_and_their_audit_entry_commit_together(intake: tuple[Intake, Store],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """A failure while writing the audit entry leaves no job behind: one transaction, not two."""
    it, store = intake
    it.submit("a", "default", [to_spec({"command": ["true"]})], {})
    before, entries = _count(store), len(audit.entries(store))

    def broken(*_a: object, **_k: object) -> None:
        raise RuntimeError("disk full while auditing")

    monkeypatch.setattr("tessera.server.intake.append_all", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        it.submit("a", "default", [to_spec({"command": ["true"]}), to_spec({"command": ["true"]})], {})
    assert _count(store) == before and len(audit.entries(store)) == entries
    monkeypatch.undo()
    it.submit("a", "default", [to_spec({"command": ["true"]})], {})
    assert _count(store) == before + 1 and audit.verify(store).ok


def test_dependencies_on_other_projects_and_revoked_tokens_store_nothing(intake: tuple[Intake, Store]) -> None:
    from tessera.server import tokens
    from tessera.server.security import Refused

    it, store = intake
    theirs = it.submit("b", "other", [to_spec({"command": ["true"], "project": "other"})], {})[0]
    n, entries = _count(store), len(audit.entries(store))
    with pytest.raises(SpecError, match="does not exist"):
        it.submit("a", "default", [to_spec({"command": ["true"], "dependency": f"afterok:{theirs}"})], {})
    tok, _secret = tokens.create(store, "t", "default", "submitter")
    assert it.submit("a", "default", [to_spec({"command": ["true"]})], {}, tok.id)
    tokens.revoke(store, tok.id)
    with pytest.raises(Refused, match="revoked"):
        it.submit("a", "default", [to_spec({"command": ["true"]})], {}, tok.id)
    assert _count(store) == n + 1 and len(audit.entries(store)) == entries + 1


def test_a_cancel_request_and_its_audit_entry_commit_together(intake: tuple[Intake, Store]) -> None:
    """The routes that cancel (jobs, workflows) write their entry in the request's transaction:
    if the entry cannot be written, no job is flagged; when it is, both are there."""
    it, store = intake
    ids = it.submit("a", "default", [to_spec({"command": ["true"]}), to_spec({"command": ["true"]})], {})
    entries = len(audit.entries(store))

    def broken(_tx: object, _n: int) -> None:
        raise RuntimeError("disk full while auditing")

    with pytest.raises(RuntimeError, match="disk full"):
        store.request_cancel(ids, then=broken)
    assert store.cancel_requests() == [] and len(audit.entries(store)) == entries
    n = store.request_cancel(ids, then=lambda tx, n: audit.append_all(
        tx, [("a", "job.cancel", "default", "x", {"requested": n})]))
    assert n == 2 and sorted(j for j, _ in store.cancel_requests()) == sorted(ids)
    assert audit.entries(store)[-1].detail == {"requested": 2} and audit.verify(store).ok
