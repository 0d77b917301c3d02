"""The audit log: every mutation through the server is recorded, the chain verifies, and any edit,
removal or reordering is detected; the database refuses UPDATE and DELETE."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from tessera.server import audit
from tessera.store import Store
from tests.server.conftest import Server


def _mutate(server: Server) -> None:
    c, h = server.client, server.auth()
    jid = c.post("/api/v1/jobs", json={"command": ["sleep", "30"]}, headers=h).json()["ids"][0]
    c.post(f"/api/v1/jobs/{jid}/cancel", headers=h)
    c.post("/api/v1/queues", json={"name": "q1", "priority": 1}, headers=h)
    hook = c.post("/api/v1/webhooks", json={"url": "http://127.0.0.1:9/x"}, headers=h).json()
    c.delete(f"/api/v1/webhooks/{hook['id']}", headers=h)
    c.post("/api/v1/session", headers=h)


def test_every_mutation_is_recorded_and_the_chain_verifies(server: Server) -> None:
    _mutate(server)
    entries = audit.entries(server.ctx.store, "default")
    actions = [e.action for e in entries]
    assert actions == ["job.submit", "job.cancel", "queue.create", "webhook.create", "webhook.delete", "session.open"]
    assert all(e.actor.startswith("token:") and e.actor.endswith(":admin") for e in entries)
    assert "secret" not in str([e.detail for e in entries])
    v = audit.verify(server.ctx.store)
    assert v.ok and v.entries >= 6
    got = server.client.get("/api/v1/audit/verify", headers=server.auth()).json()
    assert got["ok"] is True
    # another project's admin sees none of these entries
    assert server.client.get("/api/v1/audit", headers=server.auth("other")).json()["items"] == []


def test_the_database_refuses_updates_and_deletes(server: Server) -> None:
    _mutate(server)
    store = server.ctx.store
    for stmt in ("UPDATE audit SET actor = 'mallory' WHERE id = 2", "DELETE FROM audit WHERE id = 2"):
        with pytest.raises(Exception, match="append-only"), store._write() as conn:
            conn.execute(text(stmt))
    assert audit.verify(store).ok


def _tamper(store: Store, *stmts: str) -> None:
    with store._write() as conn:
        conn.execute(text("DROP TRIGGER audit_no_update"))
        conn.execute(text("DROP TRIGGER audit_no_delete"))
        for s in stmts:
            conn.execute(text(s))


@pytest.mark.parametrize(("stmts", "at", "why"), [
    (["UPDATE audit SET detail = '{\"requested\": 99}' WHERE id = 2"], 2, "changed"),
    (["UPDATE audit SET actor = 'mallory' WHERE id = 3"], 3, "changed"),
    (["DELETE FROM audit WHERE id = 3"], 4, "missing"),
    (["UPDATE audit SET hash = 'x' WHERE id = 2"], 2, "changed"),
])
def test_tampering_is_detected(server: Server, stmts: list[str], at: int, why: str) -> None:
    _mutate(server)
    _tamper(server.ctx.store, *stmts)
    v = audit.verify(server.ctx.store)
    assert not v.ok and v.broken_at == at and why in (v.why or "")


def test_recomputing_one_hash_is_not_enough(server: Server) -> None:
    """A forger who rewrites an entry and its hash still breaks the next entry's link."""
    _mutate(server)
    store = server.ctx.store
    e = audit.entries(store)[1]
    forged = audit.chain_hash(e.prev_hash, e.id, e.at, "mallory", e.action, e.project, e.target, e.detail)
    _tamper(store, f"UPDATE audit SET actor = 'mallory', hash = '{forged}' WHERE id = {e.id}")
    v = audit.verify(store)
    assert not v.ok and v.broken_at == e.id + 1 and "link" in (v.why or "")

