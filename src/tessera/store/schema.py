"""The durable schema (SQLAlchemy Core tables) and its ordered migrations."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    false,
    select,
    text,
    true,
)

from tessera.errors import StoreError

metadata = MetaData()

meta = Table(
    "meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

queues = Table(
    "queues",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("priority", Integer, nullable=False, default=0),
    Column("created_at", Float, nullable=False),
)

jobs = Table(
    "jobs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(128)),
    Column("kind", String(16), nullable=False),
    Column("spec", Text),  # JSON of the JobSpec without payload; NULL for array elements
    Column("payload", LargeBinary),  # up to PAYLOAD_INLINE_MAX bytes; a larger one is in ``payloads``
    Column("queue", String(64), nullable=False),
    Column("queue_priority", Integer, nullable=False, default=0),
    Column("priority", Integer, nullable=False, default=0),
    Column("project", String(64), nullable=False),
    Column("cpus", Float, nullable=False),
    Column("memory_mb", Integer),
    Column("gpus", Integer, nullable=False, default=0),
    Column("timeout_s", Float),
    Column("state", String(16), nullable=False),
    Column("reason", String(48)),
    Column("reason_detail", Text),
    Column("array_id", Integer),
    Column("array_index", Integer),
    Column("is_array", Boolean, nullable=False, default=False, server_default=false()),
    Column("array_size", Integer),
    Column("array_max_running", Integer),
    Column("array_max_failures", Integer),
    Column("array_done", Integer, nullable=False, default=0, server_default="0"),
    Column("array_failed", Integer, nullable=False, default=0, server_default="0"),
    Column("array_cancelled", Integer, nullable=False, default=0, server_default="0"),
    Column("attempts", Integer, nullable=False, default=0, server_default="0"),
    Column("retries_used", Integer, nullable=False, default=0, server_default="0"),
    Column("infra_retries_used", Integer, nullable=False, default=0, server_default="0"),
    Column("not_before_at", Float),
    Column("submitted_at", Float, nullable=False),
    Column("started_at", Float),
    Column("ended_at", Float),
    Column("exit_code", Integer),
    Column("lease_token", Integer),
    Column("lease_owner", String(64)),
    Column("lease_expires_at", Float),
    Column("cancel_requested", Boolean, nullable=False, default=False, server_default=false()),
    sqlite_autoincrement=True,  # a job id is never given twice (``_v10_job_ids_never_reused``)
)
Index("jobs_queue_order", jobs.c.state, jobs.c.queue_priority.desc(), jobs.c.priority.desc(), jobs.c.id)
# Partial indexes (schema v7): a non-array job has no entry in ``jobs_array``, and a job nobody asked
# to cancel none in ``jobs_cancel``, so a submit writes two index pages fewer and a state change one.
# A query uses them only when its WHERE implies theirs: ``array_id = ?`` (or ``IN``) does; cancel
# requests must be looked up with ``cancel_requested = true()``, literally.
# (PostgreSQL gets the same conditions from ``_v7_partial_indexes``: a ``postgresql_where`` here would
# import SQLAlchemy's PostgreSQL dialect into every process, 40 ms of start-up.)
JOBS_ARRAY = Index("jobs_array", jobs.c.array_id, jobs.c.array_index, sqlite_where=jobs.c.array_id.is_not(None))
JOBS_CANCEL = Index("jobs_cancel", jobs.c.state, sqlite_where=jobs.c.cancel_requested == true())

deps = Table(
    "deps",
    metadata,
    Column("job_id", Integer, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("on_job_id", Integer, nullable=False),
)
Index("deps_job", deps.c.job_id)
Index("deps_on", deps.c.on_job_id)

attempts = Table(
    "attempts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("job_id", Integer, nullable=False),
    Column("number", Integer, nullable=False),
    Column("executor", String(32), nullable=False),
    Column("owner", String(64), nullable=False),
    Column("state", String(16), nullable=False),
    Column("placement", Text, nullable=False),
    Column("pid", Integer),
    Column("pid_started_at", Float),
    Column("started_at", Float, nullable=False),
    Column("ended_at", Float),
    Column("exit_code", Integer),
    Column("reason", String(48)),
    Column("stdout_path", Text),
    Column("stderr_path", Text),
    Column("usage", Text),
)
Index("attempts_job", attempts.c.job_id)
Index("attempts_open", attempts.c.state)

events = Table(
    "events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("job_id", Integer, nullable=False),
    Column("at", Float, nullable=False),
    Column("src", String(16)),
    Column("dst", String(16), nullable=False),
    Column("reason", String(48)),
    Column("detail", Text),
)
Index("events_job", events.c.job_id)

results = Table(
    "results",
    metadata,
    Column("job_id", Integer, primary_key=True),  # one committed result per job, enforced here
    Column("attempt_id", Integer, nullable=False),
    Column("encoding", String(16)),
    Column("data", LargeBinary),
    Column("error", Text),
    Column("committed_at", Float, nullable=False),
)

controllers = Table(
    "controllers",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("pid", Integer, nullable=False),
    Column("host", String(255), nullable=False),
    Column("started_at", Float, nullable=False),
    Column("heartbeat_at", Float, nullable=False),
    Column("stopped_at", Float),
    Column("status", Text),
)

profiles = Table(
    "profiles",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("fingerprint", String(64), nullable=False),
    Column("kernel", String(64), nullable=False),
    Column("size", Integer, nullable=False),
    Column("device", String(64), nullable=False),
    Column("cold_s", Float),
    Column("warm_s", Float, nullable=False),
    Column("gflops", Float),
    Column("gbps", Float),
    Column("measured_at", Float, nullable=False),
    Column("extra", Text),
)
Index("profiles_lookup", profiles.c.fingerprint, profiles.c.kernel, profiles.c.device, profiles.c.size)


def _v1(conn: Connection) -> None:
    metadata.create_all(conn, tables=[meta, queues, jobs, deps, attempts, events, results, controllers])


def _v2(conn: Connection) -> None:
    metadata.create_all(conn, tables=[profiles])


#: Ordered migrations; the schema version is the number applied. Append, never edit.
MIGRATIONS: list[Callable[[Connection], None]] = [_v1, _v2]


def schema_version(conn: Connection) -> int:
    """The version recorded in ``meta``, or 0 for an empty database."""
    if not conn.dialect.has_table(conn, "meta"):
        return 0
    row = conn.execute(select(meta.c.value).where(meta.c.key == "schema_version")).first()
    return int(row[0]) if row else 0


def migrate(conn: Connection) -> int:
    """Apply every migration past the recorded version, in one transaction each; returns the version."""
    version = schema_version(conn)
    for number, step in enumerate(MIGRATIONS, start=1):
        if number <= version:
            continue
        step(conn)
        conn.execute(
            text("DELETE FROM meta WHERE key = 'schema_version'"),
        )
        conn.execute(meta.insert().values(key="schema_version", value=str(number)))
        version = number
    return version


# ---------------------------------------------------------------- server (issue 7): tokens, sessions,
# audit, utilisation samples, webhooks

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(128), nullable=False),
    Column("prefix", String(16), nullable=False),  # the first characters, shown to tell tokens apart
    Column("hash", String(64), nullable=False, unique=True),  # SHA-256 of the whole token
    Column("project", String(64), nullable=False),
    Column("role", String(16), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("revoked_at", Float),
    Column("last_used_at", Float),
)

sessions = Table(
    "sessions",
    metadata,
    Column("hash", String(64), primary_key=True),  # SHA-256 of the cookie value
    Column("token_id", Integer, nullable=False),
    Column("csrf", String(64), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
)

audit = Table(
    "audit",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", Float, nullable=False),
    Column("actor", String(160), nullable=False),
    Column("action", String(64), nullable=False),
    Column("project", String(64)),
    Column("target", String(160)),
    Column("detail", Text, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
)

samples = Table(
    "samples",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("attempt_id", Integer, nullable=False),
    Column("job_id", Integer, nullable=False),
    Column("at", Float, nullable=False),
    Column("cpu_pct", Float, nullable=False),  # percent of one CPU (200 = two CPUs busy)
    Column("rss_mb", Float, nullable=False),
    Column("read_mb", Float, nullable=False),  # cumulative since the attempt started
    Column("write_mb", Float, nullable=False),
    Column("gpu_pct", Float),  # mean utilisation of the attempt's GPUs; NULL without NVML
    Column("gpu_mem_mb", Float),  # GPU memory the attempt's processes hold
)
Index("samples_attempt", samples.c.attempt_id, samples.c.at)

webhooks = Table(
    "webhooks",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("url", Text, nullable=False),
    Column("project", String(64), nullable=False),
    Column("states", Text, nullable=False),  # JSON list of job states that trigger a delivery
    Column("secret", String(64), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("cursor", Integer, nullable=False),  # the last events.id handled
    Column("delivered", Integer, nullable=False, default=0, server_default="0"),
    Column("last_error", Text),
)

_APPEND_ONLY_SQLITE = (
    "CREATE TRIGGER audit_no_{op} BEFORE {OP} ON audit BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END"
)
_APPEND_ONLY_PG = [
    "CREATE OR REPLACE FUNCTION tessera_audit_append_only() RETURNS trigger AS $$ BEGIN "
    "RAISE EXCEPTION 'the audit log is append-only'; END; $$ LANGUAGE plpgsql",
    "CREATE TRIGGER audit_append_only BEFORE UPDATE OR DELETE ON audit "
    "FOR EACH ROW EXECUTE FUNCTION tessera_audit_append_only()",
]


def _v3_server(conn: Connection) -> None:
    metadata.create_all(conn, tables=[api_tokens, sessions, audit, samples, webhooks])
    conn.execute(text("CREATE INDEX IF NOT EXISTS jobs_project_id ON jobs (project, id)"))
    if conn.dialect.name == "sqlite":
        for op in ("update", "delete"):
            conn.execute(text(_APPEND_ONLY_SQLITE.format(op=op, OP=op.upper())))
    else:
        for stmt in _APPEND_ONLY_PG:
            conn.execute(text(stmt))


MIGRATIONS.append(_v3_server)


# Workflows (tessera.workflows.records): one row per submitted workflow, one per step.
workflows = Table(
    "workflows",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(64), nullable=False),
    Column("project", String(64), nullable=False),
    Column("spec", Text, nullable=False),  # JSON of the WorkflowSpec
    Column("artifacts", Text, nullable=False),  # the artifact store URL
    Column("resumed", Boolean, nullable=False, default=False),
    Column("submitted_at", Float, nullable=False),
)

workflow_steps = Table(
    "workflow_steps",
    metadata,
    Column("workflow_id", Integer, nullable=False),
    Column("step", String(64), nullable=False),
    Column("position", Integer, nullable=False),
    Column("component", String(128), nullable=False),
    Column("status", String(16), nullable=False),  # submitted | cached | skipped
    Column("job_id", Integer),
    Column("size", Integer),  # elements of a mapped step; NULL for one job
    Column("keys", Text, nullable=False),  # JSON list of cache keys, one per element
)
Index("workflow_steps_wf", workflow_steps.c.workflow_id)
Index("workflow_steps_job", workflow_steps.c.job_id)


def _v4_workflows(conn: Connection) -> None:
    metadata.create_all(conn, tables=[workflows, workflow_steps])


MIGRATIONS.append(_v4_workflows)


# ---------------------------------------------------------------------------- spot (issue 5)

#: One row per attempt that ran on a capacity class (spot or on-demand slots), written when it
#: ends: what it cost, and for a preempted attempt the notice, the kill and the work it lost.
spot_attempts = Table(
    "spot_attempts",
    metadata,
    Column("attempt_id", Integer, primary_key=True),
    Column("job_id", Integer, nullable=False),
    Column("capacity", String(16), nullable=False),
    Column("cpus", Float, nullable=False),
    Column("ran_s", Float, nullable=False),
    Column("usd", Float, nullable=False),
    Column("on_demand_usd", Float, nullable=False),
    Column("preempted", Boolean, nullable=False, default=False),
    Column("notice_at", Float),
    Column("ended_at", Float),
    Column("checkpoint_at", Float),
    Column("lost_s", Float),
    Column("lost_usd", Float),
    Column("fallback", Text),
)
Index("spot_attempts_job", spot_attempts.c.job_id)


def _v5_spot(conn: Connection) -> None:
    metadata.create_all(conn, tables=[spot_attempts])


MIGRATIONS.append(_v5_spot)


# --- cost (issue 4): the price in force over time, user machines, budgets per project

rates = Table(
    "rates",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", Float, nullable=False),  # in force from this time until the next row
    Column("name", String(64), nullable=False),  # instance type or user machine
    Column("source", String(16), nullable=False),  # catalog | machine | manual
    Column("region", String(32)),
    Column("on_demand_usd_h", Float, nullable=False),
    Column("spot_usd_h", Float),
    Column("cpus", Float, nullable=False),
    Column("memory_mb", Integer, nullable=False),
    Column("gpus", Integer, nullable=False),
)
Index("rates_at", rates.c.at)

machines = Table(
    "machines",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("usd_per_hour", Float, nullable=False),
    Column("cpus", Float, nullable=False),
    Column("memory_mb", Integer, nullable=False),
    Column("gpus", Integer, nullable=False),
    Column("gpu_model", String(64)),
    Column("note", Text),
    Column("created_at", Float, nullable=False),
)

budgets = Table(
    "budgets",
    metadata,
    Column("project", String(64), primary_key=True),
    Column("limit_usd", Float, nullable=False),
    Column("warn_at", Float, nullable=False),
    Column("action", String(16), nullable=False),
    Column("created_at", Float, nullable=False),
)


def _v6_cost(conn: Connection) -> None:
    metadata.create_all(conn, tables=[rates, machines, budgets])


MIGRATIONS.append(_v6_cost)


def _v7_partial_indexes(conn: Connection) -> None:
    """Rebuild ``jobs_array`` and ``jobs_cancel`` as the partial indexes defined above."""
    for index in (JOBS_ARRAY, JOBS_CANCEL):
        conn.execute(text(f"DROP INDEX IF EXISTS {index.name}"))
    if conn.dialect.name == "postgresql":
        conn.execute(text("CREATE INDEX jobs_array ON jobs (array_id, array_index) WHERE array_id IS NOT NULL"))
        conn.execute(text("CREATE INDEX jobs_cancel ON jobs (state) WHERE cancel_requested"))
        return
    for index in (JOBS_ARRAY, JOBS_CANCEL):
        index.create(conn)


MIGRATIONS.append(_v7_partial_indexes)


# ---------------------------------------------------------------- large payloads out of the job rows

#: Payloads (pickled functions, what they captured, map items) up to this size stay in their job's
#: row; larger ones go to ``payloads``. SQLite rewrites a whole row, overflow pages included, for any
#: change of it: a job whose payload is megabytes long would write megabytes for every state change
#: (an array's row changes with every committed batch of elements). PostgreSQL moves large values
#: out of line by itself (TOAST); the same split keeps one code path.
PAYLOAD_INLINE_MAX = 2048

payloads = Table(
    "payloads",
    metadata,
    Column("job_id", Integer, primary_key=True, autoincrement=False),
    Column("data", LargeBinary, nullable=False),
)


def _v8_payloads(conn: Connection) -> None:
    """Move payloads larger than ``PAYLOAD_INLINE_MAX`` out of their job rows into ``payloads``."""
    metadata.create_all(conn, tables=[payloads])
    big = f"payload IS NOT NULL AND length(payload) > {PAYLOAD_INLINE_MAX}"
    conn.execute(text(f"INSERT INTO payloads (job_id, data) SELECT id, payload FROM jobs WHERE {big}"))
    conn.execute(text(f"UPDATE jobs SET payload = NULL WHERE {big}"))


MIGRATIONS.append(_v8_payloads)


# ---------------------------------------------------------------- retention (``store.prune``)

#: What the attempts of pruned jobs cost, per project: budgets add it to the stored attempts' spend.
pruned_spend = Table(
    "pruned_spend",
    metadata,
    Column("project", String(64), primary_key=True),
    Column("usd", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
)


def _v9_pruned_spend(conn: Connection) -> None:
    metadata.create_all(conn, tables=[pruned_spend])


MIGRATIONS.append(_v9_pruned_spend)


# ---------------------------------------------------------------- job ids are never given twice

def _v10_job_ids_never_reused(conn: Connection) -> None:
    """SQLite gives a new row the largest id in its table plus one, so once ``tessera prune`` had
    deleted the newest jobs their ids came round again: what users had noted, log folders, and the
    caches of a controller still running would take the new job for the pruned one. AUTOINCREMENT
    never gives an id twice (SQLite keeps the largest in ``sqlite_sequence``, written in the same
    commit); PostgreSQL's sequences never did. Attempt and event ids may come round again after a
    prune: nothing outside their rows outlives them (prune removes attempts' scratch folders and
    moves webhook cursors back), and AUTOINCREMENT on them as well made one-by-one submission
    about 7 % slower (docs/benchmarks.md).
    This rebuilds SQLite's ``jobs`` with AUTOINCREMENT, its rows and indexes kept."""
    if conn.dialect.name != "sqlite":
        return
    made = conn.execute(text("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'jobs'")).scalar()
    if made is not None and "AUTOINCREMENT" not in made.upper():  # else created by this version: so already
        _rebuild(conn, jobs)


def _rebuild(conn: Connection, table: Table) -> None:
    """SQLite's way to change how a table was created: a new table, the rows copied, the indexes made again."""
    from sqlalchemy.schema import CreateTable

    name = table.name
    have = [row[1] for row in conn.execute(text(f'PRAGMA table_info("{name}")'))]
    if set(have) != {c.name for c in table.columns}:
        raise StoreError(f"cannot migrate table {name}: it has columns {sorted(have)}, not the ones this version "
                         f"of tessera expects ({sorted(c.name for c in table.columns)})",
                         "put the table back as tessera made it (it was changed by hand), or use a new TESSERA_HOME")
    indexes = conn.execute(text("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = :n "
                                "AND sql IS NOT NULL"), {"n": name}).all()
    for index, _sql in indexes:
        conn.execute(text(f'DROP INDEX "{index}"'))
    conn.execute(text(f'ALTER TABLE "{name}" RENAME TO "_old_{name}"'))
    conn.execute(CreateTable(table))
    cols = ", ".join(f'"{c}"' for c in have)
    conn.execute(text(f'INSERT INTO "{name}" ({cols}) SELECT {cols} FROM "_old_{name}"'))  # sets sqlite_sequence
    conn.execute(text(f'DROP TABLE "_old_{name}"'))
    for _index, sql in indexes:
        conn.execute(text(sql))


MIGRATIONS.append(_v10_job_ids_never_reused)
