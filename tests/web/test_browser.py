"""The dashboard in a real browser: sign in, build a three-step workflow by drag and drop (typed
wiring, schema forms), validate, save it as YAML that `tessera run` runs, submit it, watch every
step succeed, open a step's job and read its logs; and the dashboard's views on live data."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

from tests.web.conftest import SHOTS, LiveServer, env_for, shot, sign_in

pytestmark = pytest.mark.timeout(600)


def drop(page: Any, component: str, x: int, y: int) -> None:
    """Drag a component from the palette onto the canvas at (x, y) of the canvas."""
    page.get_by_test_id(f"palette-{component}").drag_to(page.get_by_test_id("canvas"), target_position={"x": x, "y": y})


def wire(page: Any, out_step: str, out_port: str, in_step: str, in_port: str) -> None:
    page.get_by_test_id(f"out-{out_step}-{out_port}").drag_to(page.get_by_test_id(f"in-{in_step}-{in_port}"))


def edges(page: Any) -> int:
    return int(page.locator(".react-flow__edge").count())


def set_shape(page: Any, step: str, dims: list[int]) -> None:
    """Fill the array parameter `shape` through the form drawn from the component's JSON Schema."""
    page.get_by_test_id(f"step-{step}").click()
    form = page.get_by_test_id("inspector")
    for n, d in enumerate(dims):
        form.locator("button[title='Add']").first.click()
        form.locator(f"#root_shape_{n}").fill(str(d))


def test_sign_in_build_submit_and_read_logs(page: Any, live_server: LiveServer, tmp_path: Path) -> None:
    page.goto("/")
    page.get_by_label("API token").fill("tsr_not_a_token")
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("alert").filter(has_text="not accepted").wait_for()
    shot(page, "01-sign-in-refused")
    sign_in(page, live_server.token)
    assert "project default" in page.get_by_test_id("who").inner_text()
    # a reload keeps the session (the cookie) and asks the server for the CSRF token again,
    # which the submission below needs
    page.reload()
    page.get_by_test_id("who").filter(has_text="project default").wait_for()

    page.get_by_role("link", name="Editor").click()
    page.get_by_test_id("palette-array.random").wait_for()
    drop(page, "array.random", 120, 80)
    drop(page, "array.random", 120, 330)
    drop(page, "array.sum", 560, 200)
    for step in ("random", "random-2", "sum"):
        page.get_by_test_id(f"step-{step}").wait_for()

    # typed ports: an array output cannot feed a list[json] input
    drop(page, "json.gather", 560, 430)
    wire(page, "random", "out", "gather", "items")
    page.get_by_test_id("editor-message").filter(has_text="Refused").wait_for()
    assert edges(page) == 0
    shot(page, "02-editor-refused-wire")
    page.get_by_test_id("step-gather").click()
    page.get_by_role("button", name="Delete step").click()
    assert page.get_by_test_id("step-gather").count() == 0

    wire(page, "random", "out", "sum", "items")
    wire(page, "random-2", "out", "sum", "items")
    assert edges(page) == 2

    # parameters through the schema form; resources; a missing parameter is caught by validation
    page.get_by_role("button", name="Validate").click()
    page.get_by_test_id("editor-message").filter(has_text="refused").wait_for()
    set_shape(page, "random", [3, 2])
    page.get_by_test_id("inspector").get_by_label("cpus").fill("1")
    set_shape(page, "random-2", [3, 2])
    page.get_by_test_id("inspector").locator("#root_seed").fill("7")
    page.get_by_label("workflow name").fill("browser-fan-in")
    page.get_by_role("button", name="Validate").click()
    page.get_by_test_id("editor-message").filter(has_text="Valid").wait_for()
    shot(page, "03-editor-valid")

    # save as YAML; `tessera run` runs the very file, in a home of its own
    with page.expect_download() as dl:
        page.get_by_role("button", name="Save YAML").click()
    saved = tmp_path / "browser-fan-in.yaml"
    dl.value.save_as(saved)
    text = saved.read_text()
    assert "component: array.sum" in text and "random-2.out" in text
    home = Path(tempfile.mkdtemp(prefix="tessera-roundtrip-"))
    try:
        run = subprocess.run([sys.executable, "-m", "tessera.cli.main", "run", str(saved), "--timeout-s", "300"],
                             env=env_for(home), capture_output=True, text=True, timeout=400)
        assert run.returncode == 0, run.stderr
    finally:
        subprocess.run([sys.executable, "-m", "tessera.cli.main", "down"], env=env_for(home), capture_output=True,
                       timeout=60)
    # ...and opening the file again rebuilds the same workflow
    page.get_by_label("open yaml").set_input_files(str(saved))
    page.get_by_test_id("editor-message").filter(has_text="Loaded 3 steps").wait_for()
    assert page.get_by_test_id("yaml").text_content().strip() == text.strip()

    # submit and watch each step's state live on the canvas
    page.get_by_role("button", name="Submit").click()
    page.get_by_test_id("editor-message").filter(has_text="succeeded").wait_for(timeout=300_000)
    for step in ("random", "random-2", "sum"):
        assert page.get_by_test_id(f"step-{step}").get_attribute("data-state") == "succeeded"
    shot(page, "04-editor-succeeded")

    # the workflow page links each step to its job; the job page shows its logs
    page.get_by_test_id("run-link").click()
    row = page.get_by_test_id("steprow-sum")
    row.wait_for()
    assert "succeeded" in row.inner_text()
    row.get_by_role("link").first.click()
    page.get_by_role("heading", name="Logs").wait_for()
    job_id = page.url.rsplit("/", 1)[1]
    api_logs = live_server.api("GET", f"/jobs/{job_id}/logs?stream=stdout")
    pane = page.get_by_test_id("log-stdout")
    expected = api_logs["data"] or "(stdout is empty)"
    page.wait_for_function("([el, want]) => el.textContent.trim() === want.trim()", arg=[pane.element_handle(), expected])
    page.get_by_role("tab", name="stderr").click()
    page.get_by_test_id("log-stderr").wait_for()
    assert page.get_by_test_id("history").inner_text().count("succeeded") >= 1
    shot(page, "05-job-logs")


def test_dashboard_views_on_live_data(page: Any, live_server: LiveServer) -> None:
    live_server.api("POST", "/queues", {"name": "batch", "priority": 5})
    ok = live_server.api("POST", "/jobs", {"name": "speaks", "queue": "batch",
                                           "command": ["sh", "-c", "echo line one; echo line two; echo oops >&2"]})
    bad = live_server.api("POST", "/jobs", {"name": "breaks", "queue": "batch", "command": ["sh", "-c", "exit 3"]})
    busy = live_server.api("POST", "/jobs", {"name": "busy", "command": [
        sys.executable, "-c", "import time\nt = time.time()\nwhile time.time() - t < 5: pass"]})
    ok_id, bad_id = ok["ids"][0], bad["ids"][0]
    sign_in(page, live_server.token)

    # queues and capacity: the batch queue counts both jobs once they end
    page.goto("/#/queues")
    page.get_by_test_id("count-batch-succeeded").filter(has_text="1").wait_for(timeout=120_000)
    page.get_by_test_id("count-batch-failed").filter(has_text="1").wait_for(timeout=120_000)
    page.get_by_test_id("capacity-local").wait_for()
    shot(page, "06-queues")

    # the jobs table, filtered by state from the select
    page.get_by_role("link", name="Jobs", exact=True).click()
    table = page.get_by_test_id("jobs")
    table.get_by_role("link", name=bad_id, exact=True).wait_for()
    page.get_by_label("state").select_option("failed")
    # the filtered table: the failed job is listed, the succeeded one is not
    page.wait_for_function("""([bad, ok]) => {
        const ids = [...document.querySelectorAll('[data-testid=jobs] td:first-child')].map(td => td.textContent);
        return ids.includes(bad) && !ids.includes(ok);
    }""", arg=[bad_id, ok_id])
    rows = page.get_by_test_id("jobs").locator("tbody tr")
    assert rows.count() >= 1
    for i in range(rows.count()):
        assert "failed" in rows.nth(i).inner_text()
    shot(page, "07-jobs-failed")

    # the job page: its logs as the API has them, both streams
    page.goto(f"/#/jobs/{ok_id}")
    page.get_by_test_id("log-stdout").filter(has_text="line two").wait_for()
    assert page.get_by_test_id("log-stdout").inner_text().splitlines() == ["line one", "line two"]
    page.get_by_role("tab", name="stderr").click()
    page.get_by_test_id("log-stderr").filter(has_text="oops").wait_for()
    page.get_by_test_id("use-1").wait_for()  # the utilisation block of attempt 1
    shot(page, "08-job-page")

    # a job that keeps a CPU busy for seconds: its samples are charted, then it gets a verdict
    page.goto(f"/#/jobs/{busy['ids'][0]}")
    page.get_by_test_id("verdict").wait_for(timeout=120_000)
    page.get_by_test_id("use-1").get_by_test_id("chart").nth(2).wait_for()
    assert page.get_by_test_id("use-1").get_by_test_id("chart").count() == 3  # busy, memory, IO
    assert page.get_by_test_id("use-1").locator("canvas").count() == 3
    shot(page, "09-utilisation")

    # costs and hardware render what this build has, or say plainly what it lacks
    page.get_by_role("link", name="Costs").click()
    page.locator("[data-testid=costs], [data-testid=empty]").first.wait_for()
    if page.get_by_test_id("costs").count():  # this build has the cost ledger: the jobs above are in it
        assert "default" in page.get_by_test_id("costs").inner_text()
        page.get_by_label("group by").select_option("queue")
        page.get_by_test_id("costs").filter(has_text="batch").wait_for()
    shot(page, "10-costs")
    page.get_by_role("link", name="Hardware").click()
    page.get_by_test_id("hardware").wait_for()
    shot(page, "11-hardware")


def test_dashboard_first_load(browser: Any, live_server: LiveServer) -> None:
    """Navigation Timing of the dashboard's first load (a signed-in session, a cold cache): the
    page's load event and the moment the queues table shows live data. Recorded, not asserted
    (timing never decides a test): benchmarks/web.py reports the same figures over many loads."""
    ctx = browser.new_context(base_url=live_server.url)
    try:
        pg = ctx.new_page()
        sign_in(pg, live_server.token)
        fresh = ctx.new_page()  # the session cookie, but nothing of the page in memory
        fresh.route("**/*", lambda route: route.continue_(headers={**route.request.headers, "Cache-Control": "no-cache"}))
        fresh.goto("/#/queues")
        fresh.get_by_test_id("queues").wait_for()
        timing = fresh.evaluate("""() => {
            const n = performance.getEntriesByType('navigation')[0];
            return {load_ms: n.loadEventEnd, dom_ms: n.domContentLoadedEventEnd, data_ms: performance.now(),
                    bytes: performance.getEntriesByType('resource').reduce((a, r) => a + r.transferSize, n.transferSize)};
        }""")
    finally:
        ctx.close()
    assert timing["load_ms"] > 0 and timing["data_ms"] > 0  # Navigation Timing answered
    SHOTS.mkdir(parents=True, exist_ok=True)
    (SHOTS.parent / "first-load.json").write_text(json.dumps(timing, indent=1))
    print(f"dashboard first load: {json.dumps(timing)}")


def test_editor_fan_out_and_variants(page: Any, live_server: LiveServer) -> None:
    """A mapped step gathered by a list input, and variants written as the step's placement."""
    sign_in(page, live_server.token)
    page.goto("/#/editor")
    page.get_by_test_id("palette-array.random").wait_for()
    drop(page, "array.random", 120, 120)
    drop(page, "array.stack", 520, 120)
    # an unmapped array into list[array] alone is not enough for the planner
    wire(page, "random", "out", "stack", "items")
    page.get_by_role("button", name="Validate").click()
    page.get_by_test_id("editor-message").filter(has_text="wire a mapped step").wait_for()

    set_shape(page, "random", [2])
    form = page.get_by_test_id("inspector")
    form.get_by_label("map", exact=True).check()
    form.get_by_label("range").fill("3")
    form.get_by_label("map as").fill("seed")
    page.get_by_label("workflow name").fill("browser-fan-out")
    page.get_by_role("button", name="Validate").click()
    page.get_by_test_id("editor-message").filter(has_text="Valid").wait_for()
    yaml_text = page.get_by_test_id("yaml").text_content()
    assert "map:" in yaml_text and "range: 3" in yaml_text and "as: seed" in yaml_text
    assert page.get_by_test_id("step-random").locator(".tag").inner_text() == "map"

    page.get_by_role("button", name="Submit").click()
    page.get_by_test_id("editor-message").filter(has_text="succeeded").wait_for(timeout=300_000)
    wf = live_server.api("GET", "/workflows")["items"][0]
    assert wf["name"] == "browser-fan-out" and {s["name"]: s["size"] for s in wf["steps"]} == {"random": 3, "stack": None}
    shot(page, "12-editor-fan-out")

    # variants: two ways to run the stack step, written as its placement
    page.get_by_test_id("step-stack").click()
    form.get_by_role("button", name="Add variant").click()
    form.get_by_role("button", name="Add variant").click()
    yaml_text = page.get_by_test_id("yaml").text_content()
    assert "placement:" in yaml_text and "name: cpu" in yaml_text and "name: gpu" in yaml_text
    page.get_by_role("button", name="Validate").click()
    # accepted where tessera has its placement engine; otherwise refused with that reason
    page.get_by_test_id("editor-message").filter(has_text=re.compile("Valid|no placement engine")).wait_for()
    shot(page, "13-editor-variants")
