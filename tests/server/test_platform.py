"""Queues, projects, status, hardware, costs and components through the API."""

from __future__ import annotations

from tests.conftest import wait_for
from tests.server.conftest import Server


def _ran(server: Server, who: str = "admin") -> str:
    c, h = server.client, server.auth(who)
    jid = c.post("/api/v1/jobs", json={"command": ["sleep", "0.2"], "cpus": 1}, headers=h).json()["ids"][0]
    wait_for(lambda: c.get(f"/api/v1/jobs/{jid}", headers=h).json()["state"] == "succeeded", 60, "the job")
    return str(jid)


def test_queues_projects_status_hardware(server: Server) -> None:
    c, h = server.client, server.auth()
    _ran(server)
    qs = c.get("/api/v1/queues", headers=h).json()
    assert qs["items"][0]["name"] == "default" and qs["items"][0]["counts"] == {"succeeded": 1}
    assert qs["capacity"][0]["total"]["cpus"] > 0
    assert c.get("/api/v1/projects", headers=h).json()["items"] == [
        {"name": "default", "role": "admin", "counts": {"succeeded": 1}}]
    st = c.get("/api/v1/status", headers=h).json()
    assert st["controller"]["executors"][0]["name"] == "local" and st["counts"] == {"succeeded": 1}
    assert c.get("/api/v1/status", headers=server.auth("other")).json()["counts"] == {}
    hw = c.get("/api/v1/hardware", headers=h).json()
    assert hw["capacity"]["cpus"] >= 1 and isinstance(hw["gpus"], list) and isinstance(hw["profiles"], list)


def test_costs_by_queue_and_over_time(server: Server) -> None:
    c, h = server.client, server.auth()
    _ran(server)
    got = c.get("/api/v1/costs", params={"group_by": "queue", "bucket_s": 3600}, headers=h).json()
    assert got["groups"][0]["queue"] == "default" and got["groups"][0]["usd"] > 0
    assert got["groups"][0]["attempts"] == 1 and got["series"][0]["usd"] == got["groups"][0]["usd"]
    assert c.get("/api/v1/costs", headers=server.auth("other")).json()["groups"] == []
    assert "tessera_cost_usd{queue=\"default\"}" in c.get("/metrics", headers=h).text
    assert c.get("/api/v1/costs", params={"group_by": "nope"}, headers=h).status_code == 422


def test_components(server: Server) -> None:
    c, h = server.client, server.auth("viewer")
    items = c.get("/api/v1/components", headers=h).json()["items"]
    assert items and all("name" in i for i in items)
    one = c.get(f"/api/v1/components/{items[0]['name']}", headers=h).json()
    assert one["name"] == items[0]["name"]
    r = c.get("/api/v1/components/no-such-component", headers=h)
    assert r.status_code == 404 and r.json()["fix"]
