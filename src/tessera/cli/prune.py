"""``tessera prune``: delete jobs that ended long ago, with their history and logs (``store.prune``)."""

from __future__ import annotations

import dataclasses
from typing import Annotated

import typer
from rich.table import Table

from tessera.cli import render
from tessera.config import Settings
from tessera.errors import SpecError
from tessera.store import Store
from tessera.store.prune import Pruned, parse_age, prune


def prune_command(
    older_than: Annotated[str, typer.Option("--older-than", help="Prune jobs that ended longer ago than this: "
                                                                 "90, 45m, 12h, 30d or 2w.")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Count what would go; delete nothing.")] = False,
    vacuum: Annotated[bool, typer.Option("--vacuum", help="Then give the freed room back: SQLite rewrites its file "
                                                          "(writers wait meanwhile, about as long as copying it "
                                                          "takes); PostgreSQL runs VACUUM (ANALYZE).")] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Delete jobs that ended before a cutoff, with their attempts, events, results and log files.

    Kept whatever their age: jobs a job not yet ended depends on, workflows with a step that may not
    go yet, and jobs whose events a webhook has not delivered. What pruned attempts cost still
    counts towards budgets.
    """
    seconds = parse_age(older_than)  # bad input: exit 2 before anything is read
    if dry_run and vacuum:
        raise SpecError("--vacuum rewrites the database, and --dry-run promises to change nothing",
                        "drop --vacuum to see what would go, or --dry-run to prune and vacuum")
    s = Settings.load()
    if s.url:
        raise SpecError(f"TESSERA_URL is set: the store is the server's ({s.url})",
                        "run `tessera prune` on the server's machine, or unset TESSERA_URL for this machine's store")
    store = Store(s.db_url)
    sizes: tuple[int, int] | None = None
    try:
        got = prune(store, s, seconds, dry_run=dry_run)
        if vacuum:
            with render.err_console.status("vacuuming the store"):
                sizes = store.vacuum()
    finally:
        store.close()
    extra: dict[str, object] = {}
    if vacuum:
        extra["vacuumed"] = True
        if sizes is not None:
            extra["db_bytes_before"], extra["db_bytes_after"] = sizes
    if as_json:
        render.console.print_json(render.dumps({**dataclasses.asdict(got), "dry_run": dry_run, **extra}))
        return
    table = _table(got, older_than, dry_run)
    if vacuum:
        table.add_row("database file, before → after vacuum", "VACUUM (ANALYZE): room kept for reuse"
                      if sizes is None else f"{sizes[0] / 2**20:.1f} → {sizes[1] / 2**20:.1f} MiB")
    render.console.print(table)


def _table(got: Pruned, older_than: str, dry_run: bool) -> Table:
    verb = "would go" if dry_run else "pruned"
    age = older_than.strip() + ("" if older_than.strip()[-1:].isalpha() else " s")
    table = Table(title=f"jobs that ended more than {age} ago: {verb}")
    table.add_column("what")
    table.add_column("count", justify="right")
    rows: list[tuple[str, str]] = [("jobs", f"{got.jobs:,}"), ("array elements", f"{got.elements:,}"),
                                   ("attempts", f"{got.attempts:,}"), ("events", f"{got.events:,}")]
    if not dry_run:
        rows += [("workflows", f"{got.workflows:,}"),
                 ("log, scratch and checkpoint files", f"{got.log_files:,} ({got.log_bytes / 2**20:.1f} MiB)")]
    for project, usd in sorted(got.spend_usd.items()):
        rows.append((f"cost carried to budgets: {project}", f"${usd:.4f}"))
    for label, kept in (("kept: a job not ended depends on it", got.kept_for_dependents),
                        ("kept: its workflow is not all prunable", got.kept_for_workflows),
                        ("kept: a webhook has not delivered it", got.kept_for_webhooks)):
        if kept:
            rows.append((label, f"{kept:,}"))
    for what, count in rows:
        table.add_row(what, count)
    return table


def install(app: typer.Typer) -> None:
    """Mount ``prune`` on the main app."""
    app.command("prune")(prune_command)
