"""Jobs through the API: submit, list, show, logs, cancel, explain, and other projects' 404."""

from __future__ import annotations

from tests.conftest import wait_for
from tests.server.conftest import Server


def test_submit_list_show_logs(server: Server) -> None:
    c, h = server.client, server.auth("submitter")
    r = c.post("/api/v1/jobs", json={"name": "hello", "command": ["python3", "-c", "print('hi there')"]}, headers=h)
    assert r.status_code == 201, r.text
    jid = r.json()["ids"][0]
    wait_for(lambda: c.get(f"/api/v1/jobs/{jid}", headers=h).json()["state"] == "succeeded", what="job ends")
    page = c.get("/api/v1/jobs", headers=h).json()
    assert [j["id"] for j in page["items"]] == [jid] and page["next"] is None
    show = c.get(f"/api/v1/jobs/{jid}", headers=h).json()
    assert [e["dst"] for e in show["events"]][-1] == "succeeded"
    logs = c.get(f"/api/v1/jobs/{jid}/logs", headers=h).json()
    assert logs["data"] == "hi there\n" and logs["done"] is True
    more = c.get(f"/api/v1/jobs/{jid}/logs", params={"offset": logs["offset"]}, headers=h).json()
    assert more["data"] == ""
    assert "succeeded" in c.get(f"/api/v1/jobs/{jid}/explain", headers=h).json()["text"]
    # another project's token does not see it
    o = server.auth("other")
    assert c.get(f"/api/v1/jobs/{jid}", headers=o).status_code == 404
    assert c.get("/api/v1/jobs", headers=o).json()["items"] == []
    assert c.post(f"/api/v1/jobs/{jid}/cancel", headers=o).status_code == 404


def test_committed_openapi_spec_is_current() -> None:
    from pathlib import Path

    from tessera.server.openapi import text

    committed = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"
    assert committed.read_text() == text(), "run: python -m tessera.server.openapi > docs/openapi.json"
