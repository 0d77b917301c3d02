"""Monitoring: the pure bottleneck classifier, real psutil sampling of a running job, NVML readings
through a stand-in library, /metrics, and webhook deliveries to a real HTTP receiver."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest

from tessera.monitor import webhooks
from tessera.monitor.classify import Bottleneck, Figures, Held, Sample, classify, summarise
from tessera.monitor.sampler import Gpus, Sampler
from tests.conftest import wait_for
from tests.server.conftest import Server, make_server

# ---------------------------------------------------------------- the classifier (pure)


def _f(**kw: Any) -> Figures:
    base: dict[str, Any] = {"wall_s": 100.0, "cpu_busy": 0.6, "cpus_used": 0.6, "peak_rss_mb": 100.0, "io_mb_s": 0.0,
                            "gpu_busy": None, "samples": 50}
    return Figures(**{**base, **kw})


@pytest.mark.parametrize(("figures", "held", "kind", "words"), [
    (_f(gpu_busy=0.92), Held(4, None, 1), Bottleneck.GPU_BOUND, "GPU busy 92%"),
    (_f(gpu_busy=0.07), Held(4, None, 1), Bottleneck.IDLE_GPU, "GPU busy 7%: try the CPU variant"),
    (_f(peak_rss_mb=3900.0), Held(1, 4096, 0), Bottleneck.MEMORY_BOUND, "memory_mb=5850"),
    (_f(io_mb_s=150.0, cpu_busy=0.2, cpus_used=0.2), Held(1, None, 0), Bottleneck.IO_BOUND, "150 MB/s"),
    (_f(cpu_busy=0.97, cpus_used=3.9), Held(4, None, 0), Bottleneck.CPU_BOUND, "CPU busy 97% of 4 CPUs"),
    (_f(cpu_busy=0.12, cpus_used=0.95), Held(8, None, 0), Bottleneck.OVER_PROVISIONED, "ask for cpus=2"),
    (_f(peak_rss_mb=200.0), Held(1, 8192, 0), Bottleneck.OVER_PROVISIONED, "memory_mb=300"),
    (_f(), Held(1, None, 0), Bottleneck.BALANCED, "no single resource"),
    (_f(cpu_busy=None, cpus_used=None, peak_rss_mb=None), Held(1, None, 0), Bottleneck.UNKNOWN, "nothing"),
])
def test_classify(figures: Figures, held: Held, kind: Bottleneck, words: str) -> None:
    v = classify(figures, held)
    assert v.kind is kind and words in v.recommendation, v
    assert v.as_dict()["figures"]["cpus_held"] == held.cpus


def test_gpu_rules_come_first_and_memory_beats_cpu() -> None:
    assert classify(_f(gpu_busy=0.05, cpu_busy=0.99), Held(1, None, 1)).kind is Bottleneck.IDLE_GPU
    assert classify(_f(peak_rss_mb=1000.0, cpu_busy=0.99), Held(1, 1024, 0)).kind is Bottleneck.MEMORY_BOUND


def test_summarise_samples_and_usage() -> None:
    s = [Sample(0, 100, 50, 0, 0, 80, 10), Sample(1, 300, 80, 10, 10, 60, 10), Sample(2, 200, 60, 20, 20, 70, 10)]
    f = summarise(s, Held(2, None, 1), {"peak_rss_mb": 90.0}, wall_s=2.0)
    assert f.cpus_used == pytest.approx(2.0) and f.cpu_busy == pytest.approx(1.0)
    assert f.peak_rss_mb == 90.0 and f.io_mb_s == pytest.approx(20.0) and f.gpu_busy == pytest.approx(0.7)
    short = summarise([], Held(1, None, 0), {"cpu_s": 0.05, "wall_s": 0.1, "peak_rss_mb": 12.0})
    assert short.cpu_busy == pytest.approx(0.5) and short.peak_rss_mb == 12.0 and short.samples == 0


# ---------------------------------------------------------------- sampling a real job


BUSY = "import os, sys\nwhile not os.path.exists(sys.argv[1]): pass\nprint('done')"  # busy until told to stop


@pytest.fixture
def eight_cpus(home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TESSERA_CPUS", "8")
    return home


def test_sampling_a_running_job_and_its_verdict(eight_cpus: Path, tmp_path: Path) -> None:
    srv, sdk = make_server(eight_cpus)
    stop = tmp_path / "stop"
    try:
        c, h = srv.client, srv.auth()
        job = {"command": ["python3", "-c", BUSY, str(stop)], "cpus": 4}
        jid = c.post("/api/v1/jobs", json=job, headers=h).json()["ids"][0]
        sampler = Sampler(srv.ctx.store, interval=0.3)
        wait_for(lambda: c.get(f"/api/v1/jobs/{jid}", headers=h).json()["state"] == "running", 60, "the job to run")
        written = [0]

        def sampled() -> bool:
            written[0] += sampler.sample_once()
            threading.Event().wait(0.5)  # readings a little apart (CPU time moves in clock ticks)
            return written[0] >= 3

        wait_for(sampled, 120, "three samples")
        stop.touch()
        wait_for(lambda: c.get(f"/api/v1/jobs/{jid}", headers=h).json()["state"] == "succeeded", 60, "the job to end")
        util = c.get(f"/api/v1/jobs/{jid}/utilisation", headers=h).json()["attempts"][0]
        assert len(util["samples"]) == written[0]
        assert max(s["cpu_pct"] for s in util["samples"]) > 0  # a busy loop shows (however loaded the machine)
        assert all(s["rss_mb"] > 1 for s in util["samples"])
        # one busy thread on 4 held CPUs: at most a quarter of them busy
        assert util["verdict"]["kind"] == "over_provisioned", util["verdict"]
        assert "ask for cpus=" in util["verdict"]["recommendation"]
    finally:
        stop.touch()
        srv.client.close()
        sdk.close()


def test_old_samples_are_pruned(server: Server) -> None:
    from tessera.monitor import series

    store = server.ctx.store
    series.write(store, [(1, 1, 1000.0, 50.0, 10.0, 0.0, 0.0, None, None),
                         (1, 1, 2e9, 50.0, 10.0, 0.0, 0.0, None, None)])
    Sampler(store, keep_s=3600).sample_once()  # the first round prunes
    assert [s.at for s in series.of_attempt(store, 1)] == [2e9]


class FakeNvml:
    """A stand-in for pynvml: two GPUs, one running our process."""

    class _Util:
        def __init__(self, gpu: int) -> None:
            self.gpu = gpu

    class _Proc:
        def __init__(self, pid: int, mem: int) -> None:
            self.pid, self.usedGpuMemory = pid, mem

    def nvmlDeviceGetHandleByIndex(self, i: int) -> int:  # noqa: N802 - NVML's names
        return i

    def nvmlDeviceGetUtilizationRates(self, h: int) -> Any:  # noqa: N802
        return self._Util([40, 90][h])

    def nvmlDeviceGetComputeRunningProcesses(self, h: int) -> list[Any]:  # noqa: N802
        return [self._Proc(111, 512 << 20), self._Proc(222, 256 << 20)] if h == 1 else []


def test_gpu_readings_through_nvml() -> None:
    g = Gpus()
    g.nvml = FakeNvml()
    assert g.read([0, 1], {111}) == (65.0, 512.0)
    assert g.read([1], {999}) == (90.0, 0.0)
    assert g.read([], {111}) == (None, None)


# ---------------------------------------------------------------- /metrics


def test_metrics(server: Server) -> None:
    c, h = server.client, server.auth()
    jid = c.post("/api/v1/jobs", json={"command": ["true"]}, headers=h).json()["ids"][0]
    wait_for(lambda: c.get(f"/api/v1/jobs/{jid}", headers=h).json()["state"] == "succeeded", 60, "the job")
    text = c.get("/metrics", headers=h).text
    assert 'tessera_jobs{queue="default",state="succeeded"} 1.0' in text
    assert 'tessera_attempts{state="succeeded"} 1.0' in text
    assert "tessera_running_cpu_percent" in text and "tessera_capacity_cpus" in text
    assert 'state="succeeded"' not in c.get("/metrics", headers=server.auth("other")).text
    assert c.get("/metrics").status_code == 401


# ---------------------------------------------------------------- webhooks


class Receiver:
    def __init__(self, fail_first: int = 0) -> None:
        self.got: list[tuple[dict[str, str], bytes]] = []
        self.fail_first = fail_first
        outer = self

        class H(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if outer.fail_first > 0:
                    outer.fail_first -= 1
                    self.send_response(503)
                else:
                    outer.got.append((dict(self.headers), body))
                    self.send_response(204)
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                pass

        self.http = HTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}/hook"
        threading.Thread(target=self.http.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.http.shutdown()


def test_webhooks_deliver_signed_state_events(server: Server) -> None:
    rx = Receiver(fail_first=1)  # the first delivery fails once and is retried
    try:
        c, h = server.client, server.auth()
        hook = c.post("/api/v1/webhooks", json={"url": rx.url, "states": ["running", "succeeded"]}, headers=h).json()
        assert len(hook["secret"]) >= 32
        jid = c.post("/api/v1/jobs", json={"command": ["sleep", "0.3"]}, headers=h).json()["ids"][0]
        c.post("/api/v1/jobs", json={"command": ["true"]}, headers=server.auth("other"))  # another project's
        wait_for(lambda: c.get(f"/api/v1/jobs/{jid}", headers=h).json()["state"] == "succeeded", 60, "the job")
        d = webhooks.Dispatcher(server.ctx.store, backoff_s=0.01)
        assert d.run_once() == 2
        assert d.run_once() == 0  # the cursor moved on: nothing is delivered twice
        bodies = [json.loads(b) for _h, b in rx.got]
        assert [(b["job"]["id"], b["to"]) for b in bodies] == [(jid, "running"), (jid, "succeeded")]
        for headers, body in rx.got:
            mac = hmac.new(hook["secret"].encode(), body, hashlib.sha256).hexdigest()
            assert headers["X-Tessera-Signature"] == f"sha256={mac}"
        listed = c.get("/api/v1/webhooks", headers=h).json()["items"][0]
        assert listed["delivered"] == 2 and "secret" not in listed
    finally:
        rx.close()


def test_a_dead_receiver_is_recorded_not_fatal(server: Server) -> None:
    hook, _secret = webhooks.create(server.ctx.store, "default", "http://127.0.0.1:9/nothing-listens")
    c, h = server.client, server.auth()
    jid = c.post("/api/v1/jobs", json={"command": ["true"]}, headers=h).json()["ids"][0]
    wait_for(lambda: c.get(f"/api/v1/jobs/{jid}", headers=h).json()["state"] == "succeeded", 60, "the job")
    calls: list[str] = []

    def refuse(url: str, body: bytes, headers: dict[str, str]) -> int:
        calls.append(url)
        raise ConnectionRefusedError("refused")

    assert webhooks.Dispatcher(server.ctx.store, post=refuse, backoff_s=0.0).run_once() == 0
    assert len(calls) == webhooks.TRIES
    got = webhooks.listing(server.ctx.store, "default")[0]
    assert "ConnectionRefusedError" in got["last_error"] and got["cursor"] > 0


def test_webhook_urls_and_states_are_checked(server: Server) -> None:
    h = server.auth()
    for body in ({"url": "file:///etc/passwd"}, {"url": "http://x/y", "states": ["nope"]}):
        r = server.client.post("/api/v1/webhooks", json=body, headers=h)
        assert r.status_code == 400 and r.json()["fix"]
