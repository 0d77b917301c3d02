"""Retention: which ended jobs may be deleted, and deleting them with all that hangs off them.

The store keeps every job, attempt and event until told otherwise; ``tessera prune --older-than 30d``
tells it. A job goes only when nothing still needs it:

* it is terminal and ended before the cutoff; an array goes whole, with its elements (all ended
  too), or not at all;
* no job that has not ended depends on it;
* it is not a step of a workflow that has a step not prunable itself (a workflow goes whole);
* no webhook has yet to deliver one of its events.

With it go its events, attempts, result, payload, resource samples, spot records, dependency rows,
log files, scratch folders and local checkpoints. What its attempts cost stays counted: it is added
to ``pruned_spend`` per project, which budgets add to the spend of the attempts still stored. A job
id is never given again (on SQLite ``jobs`` numbers with AUTOINCREMENT, schema v10); attempt and
event ids may be, so nothing outlives their rows: a webhook cursor past the newest event left moves
back to it. Jobs go in batches, one transaction each, so a running controller waits at most one
batch for the write lock. The audit log, append-only, is never touched.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, text

from tessera.errors import SpecError
from tessera.models.states import TERMINAL
from tessera.store.engine import translated

if TYPE_CHECKING:
    from tessera.config import Settings
    from tessera.cost.ledger import Rate
    from tessera.store.sql import Store

_TERMINAL_SQL = ", ".join(f"'{s.value}'" for s in sorted(TERMINAL, key=lambda s: s.value))
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")
BATCH = 500  # top-level jobs per transaction (their elements come with them)


def parse_age(text_: str) -> float:
    """Seconds in an age like ``90``, ``45m``, ``12h``, ``30d`` or ``2w`` (a bare number is seconds)."""
    m = _AGE.match(text_)
    if m is None or float(m.group(1)) <= 0:
        raise SpecError(f"--older-than {text_!r} is not an age",
                        "give a positive number with an optional unit: s, m, h, d or w, e.g. --older-than 30d")
    return float(m.group(1)) * _UNITS[m.group(2) or "s"]


@dataclass
class Pruned:
    """What a prune removed (or, with ``dry_run``, would remove)."""

    jobs: int = 0
    elements: int = 0
    attempts: int = 0
    events: int = 0
    workflows: int = 0
    log_files: int = 0
    log_bytes: int = 0
    spend_usd: dict[str, float] = field(default_factory=dict)  # carried into pruned_spend, per project
    kept_for_dependents: int = 0  # old ended jobs kept: a job not ended yet depends on them
    kept_for_workflows: int = 0  # kept: their workflow has a step that may not go yet
    kept_for_webhooks: int = 0  # kept: a webhook has not delivered their events yet


def prune(store: Store, settings: Settings, older_than_s: float, dry_run: bool = False,
          now: float | None = None, batch: int = BATCH) -> Pruned:
    """Delete the jobs that ended more than ``older_than_s`` ago and that nothing needs any more."""
    from tessera.cost import db

    now = time.time() if now is None else now
    cutoff = now - older_than_s
    out = Pruned()
    rates = db.rates(store)  # what pruned attempts cost is priced once, with the rates then in force
    after = 0
    while True:
        with translated("choosing jobs to prune"), store.engine.connect() as conn:
            ids, after = _old_ended(conn, cutoff, after, batch)
            if not ids:
                return out
            ids = _keepers_out(conn, ids, cutoff, out)
        if not ids:
            continue
        if dry_run:
            _count(store, ids, rates, out)
            continue
        _delete(store, settings, ids, rates, now, out)
        db.forget_pruned(store)


def _old_ended(conn: Connection, cutoff: float, after: int, batch: int) -> tuple[list[int], int]:
    """The next ``batch`` top-level jobs (ids above ``after``) that ended before ``cutoff``."""
    rows = conn.execute(text(
        f"SELECT id FROM jobs WHERE id > :after AND array_id IS NULL AND state IN ({_TERMINAL_SQL}) "
        "AND ended_at < :cutoff ORDER BY id LIMIT :n"), {"after": after, "cutoff": cutoff, "n": batch}).all()
    ids = [r[0] for r in rows]
    return ids, (ids[-1] if ids else after)


def _in(ids: Sequence[int]) -> str:
    return ",".join(str(int(i)) for i in ids)  # ints from the store itself: no quoting to get wrong


def _keepers_out(conn: Connection, ids: list[int], cutoff: float, out: Pruned) -> list[int]:
    """``ids`` without the jobs something still needs (see the module's docstring)."""
    # an array whose elements have not all ended (its own row may end first: a cancel)
    keep = {r[0] for r in conn.exec_driver_sql(
        f"SELECT DISTINCT array_id FROM jobs WHERE array_id IN ({_in(ids)}) AND state NOT IN ({_TERMINAL_SQL})")}
    # a dependent that has not ended (on the job or, for an array, on one of its elements)
    needed = {r[0] for r in conn.exec_driver_sql(
        f"SELECT COALESCE(j.array_id, j.id) FROM deps d JOIN jobs j ON j.id = d.on_job_id "
        f"JOIN jobs w ON w.id = d.job_id WHERE (j.id IN ({_in(ids)}) OR j.array_id IN ({_in(ids)})) "
        f"AND w.state NOT IN ({_TERMINAL_SQL})")}
    out.kept_for_dependents += len(needed & set(ids))
    keep |= needed
    # workflows: all their steps' jobs must be prunable (ended before the cutoff)
    wf_of: dict[int, int] = dict(conn.exec_driver_sql(
        f"SELECT job_id, workflow_id FROM workflow_steps WHERE job_id IN ({_in(ids)})").all())
    if wf_of:
        wfs = sorted(set(wf_of.values()))
        blocked = {r[0] for r in conn.execute(text(
            f"SELECT s.workflow_id FROM workflow_steps s JOIN jobs j ON j.id = s.job_id "
            f"WHERE s.workflow_id IN ({_in(wfs)}) AND (j.state NOT IN ({_TERMINAL_SQL}) OR j.ended_at >= :cutoff)"),
            {"cutoff": cutoff})}
        held = {j for j, w in wf_of.items() if w in blocked} - keep
        out.kept_for_workflows += len(held)
        keep |= held
    # webhooks: events past the slowest cursor are not delivered yet
    cursor = conn.exec_driver_sql("SELECT MIN(cursor) FROM webhooks").scalar()
    if cursor is not None:
        pending = {r[0] for r in conn.execute(text(
            f"SELECT DISTINCT COALESCE(j.array_id, j.id) FROM events e JOIN jobs j ON j.id = e.job_id "
            f"WHERE e.id > :cursor AND (j.id IN ({_in(ids)}) OR j.array_id IN ({_in(ids)}))"), {"cursor": cursor})} - keep
        out.kept_for_webhooks += len(pending & set(ids))
        keep |= pending
    return [i for i in ids if i not in keep]


def _members(conn: Connection, ids: Sequence[int]) -> list[int]:
    """The jobs and their array elements."""
    return [*ids, *(r[0] for r in conn.exec_driver_sql(
        f"SELECT id FROM jobs WHERE array_id IN ({_in(ids)})"))]


def _count(store: Store, ids: list[int], rates: Sequence[Rate], out: Pruned) -> None:
    with translated("counting jobs to prune"), store.engine.connect() as conn:
        every = _members(conn, ids)
        out.jobs += len(ids)
        out.elements += len(every) - len(ids)
        out.attempts += conn.exec_driver_sql(f"SELECT COUNT(*) FROM attempts WHERE job_id IN ({_in(every)})").scalar()
        out.events += conn.exec_driver_sql(f"SELECT COUNT(*) FROM events WHERE job_id IN ({_in(every)})").scalar()
    for project, usd in _spend(store, ids, rates).items():
        out.spend_usd[project] = out.spend_usd.get(project, 0.0) + usd


def _spend(store: Store, ids: list[int], rates: Sequence[Rate]) -> dict[str, float]:
    """What the jobs' attempts cost, per project (the ledger's own arithmetic)."""
    from tessera.cost import db
    from tessera.cost.ledger import attempt_cost

    now = time.time()  # unused for ended attempts (their cost is fixed); they all have ended
    out: dict[str, float] = {}
    for row in db.attempt_rows(store, job_ids=ids):
        c = attempt_cost(row, rates, now)
        if c is not None and c.usd:
            out[row.project] = out.get(row.project, 0.0) + c.usd
    return out


def _delete(store: Store, settings: Settings, ids: list[int], rates: Sequence[Rate], now: float,
            out: Pruned) -> None:
    spend = _spend(store, ids, rates)  # read first: ended jobs do not change, and a read needs no write lock
    with translated("pruning jobs"), store._write() as conn:
        every = _members(conn, ids)
        inn = _in(every)
        rows = conn.exec_driver_sql(
            f"SELECT a.id, a.job_id, a.number, a.stdout_path, a.stderr_path, j.array_id FROM attempts a "
            f"JOIN jobs j ON j.id = a.job_id WHERE a.job_id IN ({inn})").all()
        logs = list(rows)
        wfs = [r[0] for r in conn.exec_driver_sql(
            f"SELECT DISTINCT workflow_id FROM workflow_steps WHERE job_id IN ({inn})")]
        out.events += conn.exec_driver_sql(f"DELETE FROM events WHERE job_id IN ({inn})").rowcount
        out.attempts += conn.exec_driver_sql(f"DELETE FROM attempts WHERE job_id IN ({inn})").rowcount
        for table in ("results", "payloads", "spot_attempts", "deps"):
            conn.exec_driver_sql(f"DELETE FROM {table} WHERE job_id IN ({inn})")
        if rows:  # samples are indexed by attempt
            conn.exec_driver_sql(f"DELETE FROM samples WHERE attempt_id IN ({_in([r[0] for r in rows])})")
        if wfs:
            conn.exec_driver_sql(f"DELETE FROM workflow_steps WHERE workflow_id IN ({_in(wfs)})")
            conn.exec_driver_sql(f"DELETE FROM workflows WHERE id IN ({_in(wfs)})")
            out.workflows += len(wfs)
        conn.exec_driver_sql(f"DELETE FROM jobs WHERE id IN ({inn})")
        # SQLite numbers a new event after the largest id left: a webhook cursor past it would skip
        # the next events (those past it were this prune's, all delivered); job ids never come again
        conn.exec_driver_sql("UPDATE webhooks SET cursor = (SELECT COALESCE(MAX(id), 0) FROM events) "
                             "WHERE cursor > (SELECT COALESCE(MAX(id), 0) FROM events)")
        for project, usd in spend.items():
            _carry(conn, project, usd, now)
    out.jobs += len(ids)
    out.elements += len(every) - len(ids)
    for project, usd in spend.items():
        out.spend_usd[project] = out.spend_usd.get(project, 0.0) + usd
    _remove_files(settings, every, logs, out)


def _carry(conn: Connection, project: str, usd: float, now: float) -> None:
    """Add ``usd`` to what the project's pruned attempts cost (in the pruning transaction)."""
    changed = conn.execute(text("UPDATE pruned_spend SET usd = usd + :usd, updated_at = :now WHERE project = :p"),
                           {"usd": usd, "now": now, "p": project}).rowcount
    if not changed:
        conn.execute(text("INSERT INTO pruned_spend (project, usd, updated_at) VALUES (:p, :usd, :now)"),
                     {"usd": usd, "now": now, "p": project})


def _remove_files(settings: Settings, ids: Iterable[int], logs: Sequence[Any], out: Pruned) -> None:
    """Log files and scratch folders of the pruned attempts, arrays' log folders and the jobs' local
    checkpoints (``ids``: every pruned job, elements included)."""
    from tessera.runtime.env import checkpoint_root, local_dir

    home = str(settings.home)
    paths: set[str] = set()
    folders: set[str] = set()
    for attempt_id, job_id, number, stdout, stderr, array_id in logs:
        folders.add(settings.scratch_path(attempt_id))  # a failed attempt's is kept
        if array_id is not None:  # elements log under their array's folder, which goes whole
            folders.add(os.path.join(home, "logs", str(array_id)))
            continue
        for stream, path in (("out", stdout), ("err", stderr)):
            paths.add(path or f"{home}/logs/jobs/{job_id // 1000}/{job_id}.{number}.{stream}")
    root = checkpoint_root(settings.checkpoint_url, home)
    for job_id in ids:
        ck = local_dir(root, job_id)
        if ck is not None:
            folders.add(ck)
    for path in paths:
        try:
            size = os.path.getsize(path)
            os.unlink(path)
        except OSError:
            continue  # a Python job that printed nothing has no log file
        out.log_files += 1
        out.log_bytes += size
    for folder in folders:
        if not os.path.isdir(folder):
            continue
        for base, _dirs, files in os.walk(folder):
            for name in files:
                try:
                    out.log_bytes += os.path.getsize(os.path.join(base, name))
                    out.log_files += 1
                except OSError:
                    pass
        shutil.rmtree(folder, ignore_errors=True)

