"""Retention (``tessera prune``, ``store.prune``): ended jobs past a cutoff go with everything that
hangs off them; jobs something still needs stay; their cost stays counted. On SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from tessera.config import Settings
from tessera.cost import db as cost_db
from tessera.cost.guard import spent_usd
from tessera.cost.ledger import Rate
from tessera.errors import NotFoundError, SpecError
from tessera.models.spec import ArraySpec, make_spec
from tessera.models.states import JobState
from tessera.store import NewJob, Store
from tessera.store.prune import parse_age, prune
from tessera.store.records import Claim, End

DAY = 86400.0


def _run(store: Store, job_ids: list[int], ok: bool = True) -> None:
    """Claim and end these jobs (each one attempt), as a controller would."""
    t = time.time()
    for a in store.start([Claim(j, "local", {"cpus": 1}) for j in job_ids], "ctl", 30, now=t - 7):
        store.finish([End(a.id, a.job_id, "succeeded" if ok else "failed",
                          JobState.SUCCEEDED if ok else JobState.FAILED, ran_at=t - 6, ended_at=t - 5,
                          result_encoding="json", result=b"1")])


def _age(store: Store, job_ids: list[int], days: float) -> None:
    """Make these jobs (and their elements) look as if they had ended ``days`` ago."""
    ids = ",".join(map(str, job_ids))
    with store.engine.begin() as conn:
        conn.execute(text(f"UPDATE jobs SET ended_at = :t WHERE id IN ({ids}) OR array_id IN ({ids})"),
                     {"t": time.time() - days * DAY})


def _ended(store: Store, days: float, ok: bool = True, **spec: object) -> int:
    jid = store.submit([NewJob(make_spec(command=["true"], **spec))])[0]
    _run(store, [jid], ok)
    _age(store, [jid], days)
    return jid


def _exists(store: Store, jid: int) -> bool:
    try:
        store.job(str(jid))
        return True
    except NotFoundError:
        return False


def _count(store: Store, table: str, jid: int) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(text(f"SELECT COUNT(*) FROM {table} WHERE job_id = :j"), {"j": jid}).scalar() or 0)


def _workflow(store: Store, job_ids: list[int]) -> int:
    with store.engine.begin() as conn:
        wf = conn.execute(text("INSERT INTO workflows (name, project, spec, artifacts, resumed, submitted_at) "
                               "VALUES ('wf', 'default', '{}', 'file:///tmp', false, 0) RETURNING id")).scalar()
        for i, j in enumerate(job_ids):
            conn.execute(text("INSERT INTO workflow_steps (workflow_id, step, position, component, status, job_id, keys) "
                              "VALUES (:w, :s, :p, 'c', 'submitted', :j, '[]')"), {"w": wf, "s": f"s{i}", "p": i, "j": j})
    return int(wf)


def test_old_ended_jobs_go_with_their_history_and_the_rest_stays(store: Store, settings: Settings) -> None:
    old_ok, old_failed = _ended(store, 10), _ended(store, 10, ok=False)
    recent = _ended(store, 0.01)
    running = store.submit([NewJob(make_spec(command=["true"]))])[0]
    store.start([Claim(running, "local", {})], "ctl", 30)
    needed = _ended(store, 10)  # a pending job still depends on it
    waiting = store.submit([NewJob(make_spec(command=["true"]), (("afterok", needed),))])[0]
    arr = store.submit([NewJob(make_spec(command=["true"], array=ArraySpec.parse("0-2")))])[0]
    _run(store, [j.id for j in store.jobs(array_id=arr, limit=10)])
    _age(store, [arr], 10)
    assert store.job(str(arr)).state is JobState.SUCCEEDED
    log = Path(settings.log_path(store.job(str(old_ok)), 1, "stdout"))
    kept_log = Path(settings.log_path(store.job(str(recent)), 1, "stdout"))
    for p in (log, kept_log):
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("output\n")
    events_before = _count(store, "events", recent)

    dry = prune(store, settings, 1 * DAY, dry_run=True)
    assert (dry.jobs, dry.elements, dry.kept_for_dependents) == (3, 3, 1)
    assert all(_exists(store, j) for j in (old_ok, old_failed, arr)) and log.exists()  # a dry run deletes nothing

    got = prune(store, settings, 1 * DAY)
    assert (got.jobs, got.elements, got.kept_for_dependents) == (3, 3, 1)
    assert got.attempts == 2 + 3 and got.events >= 5 * 4
    for gone in (old_ok, old_failed, arr):
        assert not _exists(store, gone)
        for table in ("events", "attempts", "results"):
            assert _count(store, table, gone) == 0
    assert store.jobs(array_id=arr, limit=10) == []
    for kept in (recent, running, needed, waiting):
        assert _exists(store, kept)
    assert _count(store, "events", recent) == events_before
    assert store.job(str(running)).state is JobState.STARTING and store.job(str(waiting)).state is JobState.PENDING
    assert not log.exists() and kept_log.exists() and got.log_files >= 1
    assert prune(store, settings, 1 * DAY).jobs == 0  # nothing left to prune


def test_an_array_goes_only_once_all_its_elements_have_ended(store: Store, settings: Settings) -> None:
    arr = store.submit([NewJob(make_spec(command=["true"], array=ArraySpec.parse("0-1")))])[0]
    first, second = (j.id for j in sorted(store.jobs(array_id=arr, limit=10), key=lambda j: j.array_index or 0))
    _run(store, [first])
    with store.engine.begin() as conn:  # its own row ended (as a cancel may end it) while an element runs on
        conn.execute(text("UPDATE jobs SET state = 'cancelled' WHERE id = :a"), {"a": arr})
    store.start([Claim(second, "local", {})], "ctl", 30)
    _age(store, [arr], 10)
    assert prune(store, settings, 1 * DAY).jobs == 0
    assert _exists(store, arr) and store.job(str(second)).state is JobState.STARTING


def test_a_workflow_goes_whole_or_not_at_all(store: Store, settings: Settings) -> None:
    both_old = [_ended(store, 10), _ended(store, 10)]
    mixed = [_ended(store, 10), _ended(store, 0.01)]
    gone_wf, kept_wf = _workflow(store, both_old), _workflow(store, mixed)
    got = prune(store, settings, 1 * DAY)
    assert (got.jobs, got.workflows, got.kept_for_workflows) == (2, 1, 1)
    assert not any(_exists(store, j) for j in both_old) and all(_exists(store, j) for j in mixed)
    with store.engine.connect() as conn:
        left = {r[0] for r in conn.execute(text("SELECT id FROM workflows"))}
        steps = conn.execute(text("SELECT COUNT(*) FROM workflow_steps WHERE workflow_id = :w"), {"w": gone_wf}).scalar()
    assert left == {kept_wf} and steps == 0


def test_undelivered_webhook_events_keep_their_jobs(store: Store, settings: Settings) -> None:
    jid = _ended(store, 10)
    with store.engine.begin() as conn:
        conn.execute(text("INSERT INTO webhooks (url, project, states, secret, created_at, cursor, delivered) "
                          "VALUES ('http://127.0.0.1:9/', 'default', '[]', 's', 0, 0, 0)"))
    got = prune(store, settings, 1 * DAY)
    assert got.jobs == 0 and got.kept_for_webhooks == 1 and _exists(store, jid)
    with store.engine.begin() as conn:  # the webhook caught up
        conn.execute(text("UPDATE webhooks SET cursor = (SELECT MAX(id) FROM events)"))
    assert prune(store, settings, 1 * DAY).jobs == 1 and not _exists(store, jid)


def test_budgets_still_count_what_pruned_attempts_cost(store: Store, settings: Settings) -> None:
    cost_db.add_rate(store, Rate(0.0, "lab", 36.0, None, 4, 8192, 0))  # $36/h for the machine: $9/h a CPU
    jobs = [_ended(store, 10, project="physics") for _ in range(3)]
    before = spent_usd(store, "physics", time.time())
    assert before == pytest.approx(3 * 9.0 * 2 / 3600)  # each attempt ran 2 s on one CPU
    got = prune(store, settings, 1 * DAY)
    assert got.jobs == 3 and got.spend_usd["physics"] == pytest.approx(before)
    assert not any(_exists(store, j) for j in jobs)
    assert spent_usd(store, "physics", time.time()) == pytest.approx(before)  # this process (its cache)
    from tessera.cost import guard

    guard._spent.clear()  # a new process sums the stored attempts again
    assert spent_usd(store, "physics", time.time()) == pytest.approx(before)


@pytest.mark.parametrize("bad", ["0", "-3d", "5x", "", "d"])
def test_an_age_that_is_not_one_is_refused(bad: str) -> None:
    with pytest.raises(SpecError, match="To fix|older-than") as e:
        parse_age(bad)
    assert "e.g. --older-than 30d" in str(e.value.fix)


def test_ages_in_units() -> None:
    assert [parse_age(a) for a in ("90", "45m", "12h", "30d", "2w", "1.5h")] == [
        90, 2700, 43200, 30 * DAY, 14 * DAY, 5400]


def _cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TESSERA_HOME": str(home)}
    return subprocess.run([sys.executable, "-m", "tessera.cli.main", *args], env=env, capture_output=True,
                          text=True, timeout=120)


def test_the_cli_prunes_and_refuses_bad_input(home: Path) -> None:
    s = Settings.load()
    store = Store(s.db_url)
    try:
        old, new = _ended(store, 10), _ended(store, 0.01)
    finally:
        store.close()
    bad = _cli(home, "prune", "--older-than", "soon")
    assert bad.returncode == 2 and "To fix" in bad.stderr
    dry = _cli(home, "prune", "--older-than", "1d", "--dry-run", "--json")
    assert dry.returncode == 0, dry.stderr
    assert json.loads(dry.stdout)["jobs"] == 1 and json.loads(dry.stdout)["dry_run"] is True
    done = _cli(home, "prune", "--older-than", "1d")
    assert done.returncode == 0, done.stderr
    assert "pruned" in done.stdout and "jobs" in done.stdout
    store = Store(s.db_url)
    try:
        assert not _exists(store, old) and _exists(store, new)
    finally:
        store.close()


def test_vacuum_gives_the_room_back_and_keeps_what_stayed(store: Store, settings: Settings) -> None:
    big = b"x" * 200_000  # stored beside the job (payloads past the inline limit): room a prune frees
    old = store.submit([NewJob(make_spec(command=["true"]).model_copy(update={"payload": big}))
                        for _ in range(60)])
    _run(store, old)
    _age(store, old, 10)
    kept = _ended(store, 0.01)
    assert prune(store, settings, 86400).jobs == 60
    sizes = store.vacuum()
    if store.dialect == "postgresql":
        assert sizes is None  # VACUUM (ANALYZE): the room is reused, not returned
    else:
        assert sizes is not None
        before, after = sizes
        assert before > 60 * len(big) > after  # the pruned payloads' pages left the file
    assert _exists(store, kept) and not _exists(store, old[0])
    new = store.submit([NewJob(make_spec(command=["true"]))])[0]  # the store goes on as before
    _run(store, [new])
    assert store.job(str(new)).state is JobState.SUCCEEDED


def test_the_cli_vacuums_after_a_prune_and_refuses_it_with_a_dry_run(home: Path) -> None:
    s = Settings.load()
    store = Store(s.db_url)
    try:
        old = _ended(store, 10)
    finally:
        store.close()
    both = _cli(home, "prune", "--older-than", "1d", "--dry-run", "--vacuum")
    assert both.returncode == 2 and "To fix" in both.stderr
    store = Store(s.db_url)
    try:
        assert _exists(store, old)  # the refused command changed nothing
    finally:
        store.close()
    done = _cli(home, "prune", "--older-than", "1d", "--vacuum", "--json")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["jobs"] == 1 and out["vacuumed"] is True and out["db_bytes_after"] <= out["db_bytes_before"]
    table = _cli(home, "prune", "--older-than", "1d", "--vacuum")
    assert table.returncode == 0 and "before → after vacuum" in table.stdout


def _newest_job(store: Store) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(text("SELECT MAX(id) FROM jobs")).scalar() or 0)


def test_a_job_id_is_never_given_twice_and_nothing_outlives_an_attempt_or_event_id(
        store: Store, settings: Settings) -> None:
    """A pruned job's id would name a new job: what users noted, and a running controller's caches,
    would take the new job for the old. Attempt and event ids may come round again, so what is keyed
    by them goes: a webhook cursor past the newest event left moves back, scratch folders go."""
    old = [_ended(store, 10) for _ in range(3)]
    with store.engine.begin() as conn:  # a webhook that has delivered everything so far
        top = conn.execute(text("SELECT MAX(id) FROM events")).scalar()
        conn.execute(text("INSERT INTO webhooks (url, project, states, secret, created_at, cursor, delivered) "
                          "VALUES ('http://127.0.0.1:9/hook', 'default', '[]', 's', 0, :c, 0)"), {"c": top})
        attempt = conn.execute(text("SELECT MAX(id) FROM attempts")).scalar()
    scratch = settings.scratch_dir / str(attempt)  # a failed attempt's folder is kept for a look
    scratch.mkdir(parents=True)
    (scratch / "left.txt").write_text("by the job")
    assert prune(store, settings, 86400).jobs == 3
    assert _newest_job(store) == 0 and not scratch.exists()
    new = store.submit([NewJob(make_spec(command=["true"]))])[0]
    _run(store, [new])
    assert new > max(old)
    with store.engine.connect() as conn:
        cursor = conn.execute(text("SELECT cursor FROM webhooks")).scalar()
        fresh = conn.execute(text("SELECT MIN(id) FROM events WHERE job_id = :j"), {"j": new}).scalar()
    assert fresh > cursor  # the new job's events are past the cursor: the webhook delivers them


def _as_v9(store: Store) -> None:
    """Put ``jobs`` back as schema v9 made it (no AUTOINCREMENT: ids reused)."""
    with store.engine.begin() as conn:
        made = conn.execute(text("SELECT sql FROM sqlite_master WHERE name = 'jobs'")).scalar()
        idx = conn.execute(text("SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'jobs' "
                                "AND sql IS NOT NULL")).scalars().all()
        conn.execute(text("ALTER TABLE jobs RENAME TO old_jobs"))
        conn.execute(text(made.replace("AUTOINCREMENT", "")))
        conn.execute(text("INSERT INTO jobs SELECT * FROM old_jobs"))
        conn.execute(text("DROP TABLE old_jobs"))
        for sql in idx:
            conn.execute(text(sql.replace("CREATE INDEX", "CREATE INDEX IF NOT EXISTS")))
        conn.execute(text("DELETE FROM sqlite_sequence"))
        conn.execute(text("UPDATE meta SET value = '9' WHERE key = 'schema_version'"))


def test_a_v9_store_keeps_its_jobs_and_never_gives_their_ids_again(tmp_path: Path) -> None:
    """Schema v10 rebuilds SQLite's jobs with AUTOINCREMENT, rows and indexes kept."""
    from tessera.store import schema as t

    url = f"sqlite:///{tmp_path / 'store.db'}"
    s = Settings.load(home=tmp_path / "home")
    old = Store(url)
    ids = old.submit([NewJob(make_spec(command=["true"], name=f"j{i}")) for i in range(3)])
    _run(old, ids)
    _as_v9(old)
    old.close()
    new = Store(url)
    try:
        with new.engine.connect() as conn:
            assert t.schema_version(conn) == len(t.MIGRATIONS)
            assert "AUTOINCREMENT" in conn.execute(text("SELECT sql FROM sqlite_master WHERE name = 'jobs'")).scalar()
            names = set(conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'index' "
                                          "AND tbl_name = 'jobs'")).scalars())
        assert {"jobs_queue_order", "jobs_project_id", "jobs_array", "jobs_cancel"} <= names
        assert [new.job(str(i)).spec.name for i in ids] == ["j0", "j1", "j2"]  # every job kept, with its id
        _age(new, ids, 10)
        assert prune(new, s, 86400).jobs == 3
        again = new.submit([NewJob(make_spec(command=["true"]))])[0]
        assert again > max(ids)
    finally:
        new.close()


def test_prune_and_vacuum_under_a_running_controller(home: Path) -> None:
    """``tessera prune --vacuum`` while a background controller runs: the controller waits for the
    rewrite, goes on, and the next jobs get ids of their own and their own results."""
    from tessera.client import Client
    from tessera.controller import daemon
    from tests import fixtures

    s = Settings.load()
    daemon.ensure_running(s)
    try:
        with Client() as c:
            old = [c.submit(fixtures.square, 2) for _ in range(20)]
            assert [h.result(60) for h in old] == [4] * 20
            _age(c.store, [h.id for h in old], 10)
            done = _cli(home, "prune", "--older-than", "1d", "--vacuum", "--json")
            assert done.returncode == 0, done.stderr
            assert json.loads(done.stdout)["jobs"] == 20
            new = [c.submit(fixtures.square, i) for i in range(5)]
            assert [h.result(60) for h in new] == [0, 1, 4, 9, 16]
            assert min(h.id for h in new) > max(h.id for h in old)
    finally:
        daemon.stop(s)


def test_a_process_that_read_a_pruned_job_reads_the_next_job_as_itself(store: Store, settings: Settings) -> None:
    """A store keeps the specs it read by job id: with ids given twice, a controller that had read
    the pruned job would have read the new one as it and run the pruned job's command."""
    old = store.submit([NewJob(make_spec(command=["echo", "old"]))])[0]
    assert store.job(str(old)).spec.command == ("echo", "old")  # read, and kept by id
    _run(store, [old])
    _age(store, [old], 10)
    assert prune(store, settings, 86400).jobs == 1
    new = store.submit([NewJob(make_spec(command=["echo", "new"]))])[0]
    assert store.job(str(new)).spec.command == ("echo", "new")


def test_a_v9_jobs_table_changed_by_hand_is_refused_and_left_as_it_was(tmp_path: Path) -> None:
    from tessera.errors import StoreError
    from tessera.store import schema as t

    url = f"sqlite:///{tmp_path / 'store.db'}"
    old = Store(url)
    jid = old.submit([NewJob(make_spec(command=["true"], name="kept"))])[0]
    _as_v9(old)
    with old.engine.begin() as conn:
        conn.execute(text("ALTER TABLE jobs ADD COLUMN mine TEXT"))
    old.close()
    with pytest.raises(StoreError, match="cannot migrate table jobs") as e:
        Store(url)
    assert "tessera made it" in str(e.value)
    import sqlalchemy

    engine = sqlalchemy.create_engine(url)
    with engine.connect() as conn:  # the migration's transaction rolled back: v9, the job still there
        assert t.schema_version(conn) == 9
        assert conn.execute(text("SELECT name FROM jobs WHERE id = :j"), {"j": jid}).scalar() == "kept"
    engine.dispose()
