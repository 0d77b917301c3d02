"""``tessera server``, ``tessera token create|ls|revoke`` and ``tessera audit [ls|verify]``."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from tessera.cli import render
from tessera.config import Settings
from tessera.store import Store

token_app = typer.Typer(no_args_is_help=True, help="API tokens for the server: create (shown once), list, revoke.")
audit_app = typer.Typer(help="The server's hash-chained audit log.", invoke_without_command=True)


def serve(
    host: Annotated[str, typer.Option(help="Address to bind; anything but loopback needs a token to exist.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8470,
    allowed_host: Annotated[list[str] | None, typer.Option(help="Another Host name clients use (repeatable).")] = None,
    allowed_origin: Annotated[list[str] | None, typer.Option(help="Another browser origin allowed to change state, e.g. http://localhost:5173.")] = None,
    rate: Annotated[float, typer.Option(help="Requests per second per token (token bucket; 0: no limit).")] = 2000.0,
    tls_cert: Annotated[str | None, typer.Option(help="TLS certificate (PEM) to serve HTTPS.")] = None,
    tls_key: Annotated[str | None, typer.Option(help="TLS private key (PEM).")] = None,
    workers: Annotated[int, typer.Option(min=1, max=64, help="API processes (the controller stays one, in this process).")] = 1,
) -> None:
    """Serve the REST API and dashboard, hosting the controller for this TESSERA_HOME."""
    from tessera.server.host import Options
    from tessera.server.host import serve as run

    opts = Options(host=host, port=port, allowed_hosts=tuple(allowed_host or ()),
                   allowed_origins=tuple(allowed_origin or ()), rate=rate, burst=max(rate * 2, 1), tls=bool(tls_cert), workers=workers)
    render.err_console.print(f"tessera server on http{'s' if tls_cert else ''}://{host}:{port} (API under /api/v1)")
    run(Settings.load(), opts, tls_cert, tls_key)


def _actor() -> str:
    """Who made a change from the command line (the store's own user: whoever can open the database)."""
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def _store() -> Store:
    return Store(Settings.load().db_url)


@token_app.command("create")
def token_create(
    name: Annotated[str, typer.Option(help="What the token is for.")] = "cli",
    project: Annotated[str, typer.Option(help="The project it may see and submit to.")] = "default",
    role: Annotated[str, typer.Option(help="viewer, submitter or admin.")] = "submitter",
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Create a token and print it once; only its hash is stored."""
    from tessera.server import audit, tokens

    store = _store()
    tok, secret = tokens.create(store, name, project, role)
    audit.record(store, _actor(), "token.create", project, str(tok.id), {"name": name, "role": tok.role.value})
    if as_json:
        print(json.dumps({"id": tok.id, "name": tok.name, "project": tok.project, "role": tok.role.value,
                          "token": secret}))
        return
    render.console.print(secret)
    render.err_console.print(f"token {tok.id} ({tok.role.value} of project {tok.project}); it is shown only "
                             "now: keep it, e.g. export TESSERA_TOKEN=...")


@token_app.command("ls")
def token_ls(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List tokens (never their secrets)."""
    from rich.table import Table

    from tessera.models.job import fmt_time
    from tessera.server import tokens

    rows = tokens.listing(_store())
    if as_json:
        print(render.dumps([{"id": r.id, "name": r.name, "prefix": r.prefix, "project": r.project,
                             "role": r.role.value, "created_at": r.created_at, "revoked_at": r.revoked_at,
                             "last_used_at": r.last_used_at} for r in rows]))
        return
    t = Table(header_style="bold")
    for col in ("ID", "NAME", "PREFIX", "PROJECT", "ROLE", "CREATED", "LAST USED", "REVOKED"):
        t.add_column(col)
    for r in rows:
        t.add_row(str(r.id), r.name, r.prefix + "…", r.project, r.role.value, fmt_time(r.created_at),
                  fmt_time(r.last_used_at), fmt_time(r.revoked_at) if r.revoked_at else "")
    render.console.print(t)


@token_app.command("revoke")
def token_revoke(token_id: Annotated[int, typer.Argument(help="The token's id (`tessera token ls`).")]) -> None:
    """Revoke a token and end its sessions (the server notices within a second)."""
    from tessera.server import audit, tokens

    store = _store()
    tok = tokens.revoke(store, token_id)
    audit.record(store, _actor(), "token.revoke", tok.project, str(tok.id), {"name": tok.name})
    render.console.print(f"token {tok.id} ({tok.name}) revoked")


@audit_app.callback()
def audit_main(
    ctx: typer.Context,
    project: Annotated[str | None, typer.Option(help="Only this project's entries.")] = None,
    after: Annotated[int, typer.Option(help="Entries after this id.")] = 0,
    limit: Annotated[int, typer.Option(help="At most this many.")] = 100,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """List audit entries (or `tessera audit verify`)."""
    if ctx.invoked_subcommand is not None:
        return
    from rich.table import Table

    from tessera.models.job import fmt_time
    from tessera.server import audit

    items = audit.entries(_store(), project, after, limit)
    if as_json:
        print(render.dumps([e.as_dict() for e in items]))
        return
    t = Table(header_style="bold")
    for col in ("ID", "AT", "ACTOR", "ACTION", "PROJECT", "TARGET", "DETAIL", "HASH"):
        t.add_column(col)
    for e in items:
        t.add_row(str(e.id), fmt_time(e.at), e.actor, e.action, e.project or "", (e.target or "")[:30],
                  json.dumps(e.detail)[:60], e.hash[:12])
    render.console.print(t)


@audit_app.command("verify")
def audit_verify() -> None:
    """Recompute the hash chain; exit 1 at the first entry that was changed, removed or reordered."""
    from tessera.server import audit

    v = audit.verify(_store())
    if v.ok:
        render.console.print(f"audit log intact: {v.entries} entries")
        return
    render.err_console.print(f"[red]audit log broken[/] at entry {v.broken_at}: {v.why} "
                             f"({v.entries} entries verified before it)")
    raise typer.Exit(1)


def install(app: typer.Typer) -> None:
    """Register the commands on the main app."""
    app.command("server")(serve)
    app.add_typer(token_app, name="token")
    app.add_typer(audit_app, name="audit")
