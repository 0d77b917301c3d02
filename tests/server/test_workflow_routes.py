"""Workflows through the API (the editor's routes): validate, submit, follow, list, cancel, and
refusals: bad wiring, server-side imports, another project."""

from __future__ import annotations

from tests.conftest import wait_for
from tests.server.conftest import Server

FAN_IN = """\
name: fan-in
steps:
  - {name: a, component: array.random, params: {shape: [2, 2], seed: 1}}
  - {name: b, component: array.random, params: {shape: [2, 2], seed: 2}}
  - {name: total, component: array.sum, inputs: {items: [a.out, b.out]}}
"""


def test_validate_submit_and_follow(server: Server) -> None:
    c, h = server.client, server.auth("submitter")
    v = c.post("/api/v1/workflows/validate", json={"yaml": FAN_IN}, headers=h)
    assert v.status_code == 200, v.text
    assert [s["name"] for s in v.json()["steps"]] == ["a", "b", "total"]
    assert c.get("/api/v1/workflows", headers=h).json()["items"] == []  # validating stores nothing

    r = c.post("/api/v1/workflows", json={"yaml": FAN_IN}, headers=h)
    assert r.status_code == 201, r.text
    wf = r.json()
    assert wf["project"] == "default" and [s["name"] for s in wf["steps"]] == ["a", "b", "total"]
    assert all(s["job_id"] for s in wf["steps"])
    done = wait_for(lambda: (w := c.get(f"/api/v1/workflows/{wf['id']}", headers=h).json())["state"] != "running" and w,
                    what="the workflow ends")
    assert done["state"] == "succeeded", done  # type: ignore[index]
    assert {s["state"] for s in done["steps"]} == {"succeeded"}  # type: ignore[index]
    assert [w["id"] for w in c.get("/api/v1/workflows", headers=h).json()["items"]] == [wf["id"]]
    # each step is a job of the project
    job = c.get(f"/api/v1/jobs/{wf['steps'][2]['job_id']}", headers=h).json()
    assert job["state"] == "succeeded"

    o = server.auth("other")
    assert c.get(f"/api/v1/workflows/{wf['id']}", headers=o).status_code == 404
    assert c.get("/api/v1/workflows", headers=o).json()["items"] == []
    assert c.post(f"/api/v1/workflows/{wf['id']}/cancel", headers=o).status_code == 404


def test_refusals_store_nothing(server: Server) -> None:
    c, h = server.client, server.auth("submitter")
    wrong_type = FAN_IN.replace("component: array.sum", "component: json.gather")
    r = c.post("/api/v1/workflows/validate", json={"yaml": wrong_type}, headers=h)
    assert r.status_code == 400 and r.json()["fix"], r.text
    assert "items" in r.json()["error"]
    r = c.post("/api/v1/workflows", json={"yaml": "name: x\nsteps: [\n"}, headers=h)
    assert r.status_code == 400 and "YAML" in r.json()["error"]
    r = c.post("/api/v1/workflows", json={"yaml": "imports: [os]\n" + FAN_IN}, headers=h)
    assert r.status_code == 403 and "imports" in r.json()["error"]
    r = c.post("/api/v1/workflows", json={"yaml": "project: other\n" + FAN_IN}, headers=h)
    assert r.status_code == 403
    r = c.post("/api/v1/workflows", json={"yaml": FAN_IN, "spec": {"name": "x"}}, headers=h)
    assert r.status_code == 400
    assert c.post("/api/v1/workflows", json={"yaml": FAN_IN}, headers=server.auth("viewer")).status_code == 403
    assert c.get("/api/v1/workflows", headers=h).json()["items"] == []
    assert c.get("/api/v1/jobs", headers=h).json()["items"] == []


def test_cancel(server: Server) -> None:
    c, h = server.client, server.auth("submitter")
    # a thousand elements one at a time: far from done when the cancel arrives
    long = """\
name: long
steps:
  - {name: many, component: array.random, params: {shape: [2]}, map: {range: 1000, as: seed, max_running: 1}}
"""
    wf = c.post("/api/v1/workflows", json={"yaml": long}, headers=h).json()
    r = c.post(f"/api/v1/workflows/{wf['id']}/cancel", headers=h)
    assert r.status_code == 200 and r.json()["cancelled"] >= 1
    end = wait_for(lambda: (w := c.get(f"/api/v1/workflows/{wf['id']}", headers=h).json())["state"] != "running" and w,
                   what="the workflow ends")
    assert end["state"] == "cancelled"  # type: ignore[index]
