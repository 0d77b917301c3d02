"""The partial indexes of schema v7 (``jobs_array``, ``jobs_cancel``): a store migrated from v6 has
them, the queries that need them use them (SQLite's plan), and cancel requests are still found."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import event, text

from tessera.models.spec import ArraySpec, make_spec
from tessera.store import NewJob, Store
from tessera.store import schema as t


def _plan(store: Store, sql: str, params: tuple[object, ...] = ()) -> str:
    with store.engine.connect() as conn:
        return " ".join(r[3] for r in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", params))


def _index_sql(store: Store) -> dict[str, str]:
    with store.engine.connect() as conn:
        return dict(conn.exec_driver_sql(
            "SELECT name, sql FROM sqlite_master WHERE name IN ('jobs_array', 'jobs_cancel')").all())


def test_a_v6_store_gets_the_partial_indexes_and_keeps_its_jobs(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    old = Store(url)
    jid = old.submit([NewJob(make_spec(command=["true"], name="kept"))])[0]
    with old.engine.begin() as conn:  # put the database back as v6 left it: full indexes
        conn.execute(text("DROP INDEX jobs_array"))
        conn.execute(text("DROP INDEX jobs_cancel"))
        conn.execute(text("CREATE INDEX jobs_array ON jobs (array_id, array_index)"))
        conn.execute(text("CREATE INDEX jobs_cancel ON jobs (cancel_requested, state)"))
        conn.execute(text("UPDATE meta SET value = '6' WHERE key = 'schema_version'"))
    old.close()
    new = Store(url)
    try:
        got = _index_sql(new)
        assert got["jobs_array"].endswith("WHERE array_id IS NOT NULL")
        assert got["jobs_cancel"].endswith("WHERE cancel_requested = 1")
        with new.engine.connect() as conn:
            assert t.schema_version(conn) == len(t.MIGRATIONS)
        assert new.job(str(jid)).spec.name == "kept"
    finally:
        new.close()


def test_queries_use_them_and_find_what_they_look_for(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'store.db'}")
    seen: list[tuple[str, object]] = []
    event.listen(store.engine, "before_cursor_execute",
                 lambda _c, _cur, sql, params, _ctx, _many: seen.append((sql, params)))
    try:
        plain = store.submit([NewJob(make_spec(command=["true"]))])[0]
        arr = store.submit([NewJob(make_spec(command=["true"], array=ArraySpec.parse("0-3")))])[0]
        assert "jobs_array" in _plan(store, "SELECT id, array_index FROM jobs WHERE array_id = ?", (arr,))
        assert sorted(j.array_index for j in store.jobs(array_id=arr, limit=10)) == [0, 1, 2, 3]
        assert store.cancel_requests() == []
        store.request_cancel([plain, arr])  # the array's id flags its elements too
        seen.clear()
        asked = dict(store.cancel_requests())
        assert plain in asked and arr in asked and len(asked) == 2 + 4
        sql, params = next((q, p) for q, p in seen if "cancel_requested" in q)
        assert "jobs_cancel" in _plan(store, sql, tuple(params))  # type: ignore[arg-type]
    finally:
        store.close()


def test_both_backends_have_them(db_url: str) -> None:
    store = Store(db_url)
    try:
        with store.engine.connect() as conn:
            if store.dialect == "postgresql":
                got = dict(conn.exec_driver_sql(
                    "SELECT indexname, indexdef FROM pg_indexes WHERE indexname IN ('jobs_array', 'jobs_cancel')").all())
            else:
                got = _index_sql(store)
        assert "WHERE" in got["jobs_array"] and "array_id IS NOT NULL" in got["jobs_array"]
        assert "WHERE" in got["jobs_cancel"] and "cancel_requested" in got["jobs_cancel"].split("WHERE")[1]
    finally:
        store.close()


def test_the_hot_path_looks_jobs_up_by_id_however_many_are_runnable(tmp_path: Path) -> None:
    """Claims, running records and outcomes name their jobs by id. SQLite must find them through
    the primary key: a plan that walks ``jobs_queue_order`` (every runnable job) made each claim
    cost as much as the backlog was long."""
    from tessera.models.states import JobState
    from tessera.store.records import Claim, End

    store = Store(f"sqlite:///{tmp_path / 'store.db'}")
    try:
        singles = store.submit([NewJob(make_spec(command=["true"])) for _ in range(200)])
        arr = store.submit([NewJob(make_spec(command=["true"], array=ArraySpec.parse("0-3")))])[0]
        elements = [j.id for j in store.jobs(array_id=arr, limit=10)]
        seen: list[str] = []
        raw = store._wconn.connection.driver_connection  # type: ignore[union-attr]  # the hot path's own
        raw.set_trace_callback(seen.append)  # statements with their values, as SQLite ran them
        took = store.start([Claim(i, "local", {}) for i in [*singles[:3], elements[0]]], "ctl", 30)
        store.running([(a.job_id, a.id, 1.0, None, None, None) for a in took[:2]])
        ends = [End(a.id, a.job_id, "succeeded", JobState.SUCCEEDED, ended_at=2.0) for a in took]
        assert sorted(store.finish(ends)) == sorted(a.job_id for a in took)
        raw.set_trace_callback(None)
        by_id = [q for q in seen if q.lstrip().upper().startswith(("SELECT", "UPDATE"))
                 and " jobs " in f" {q} " and ("id IN (" in q or "id = " in q)]
        assert len(by_id) >= 4, seen  # the claim, its array parent, running, the outcomes
        for q in by_id:
            plan = _plan(store, q)
            assert "jobs_queue_order" not in plan and "SCAN jobs" not in plan, (q, plan)
    finally:
        store.close()
