"""Kernels as tessera jobs, and ``tessera bench`` running its cases through the engine."""

from __future__ import annotations

import json
from pathlib import Path

from tests.e2e.test_cli import Run, tessera  # noqa: F401 - the fixture


def test_kernel_job_reports_time_and_throughput(tessera: Run) -> None:  # noqa: F811
    job = tessera("submit", "--kernel", "matmul", "--param", "n=128", "--device", "cpu").stdout.strip()
    tessera("wait", job, "--timeout-s", "120")
    out = json.loads(tessera("logs", job).stdout.strip().splitlines()[-1])
    assert out["kernel"] == "matmul" and out["ok"] is True
    assert out["warm_s"] > 0 and out["gflops"] > 0 and out["flops"] == 2 * 128**3
    shown = json.loads(tessera("show", job, "--json").stdout)
    assert shown["state"] == "succeeded"


def test_cuda_kernel_job_refused_without_enough_gpus(tessera: Run) -> None:  # noqa: F811
    p = tessera("submit", "--kernel", "matmul", "--param", "n=64", "--device", "cuda:0", "--gpus", "3", check=2)
    assert "To fix:" in p.stderr


def test_bench_runs_cases_as_jobs_and_saves_profiles(tessera: Run, tmp_path: Path) -> None:  # noqa: F811
    out = tmp_path / "bench.json"
    tessera("bench", "--suite", "seed", "--scale", "0.05", "--repeat", "1", "--devices", "cpu",
            "--json", str(out), timeout=300)
    doc = json.loads(out.read_text())
    rows = doc["results"] if isinstance(doc, dict) else doc
    assert rows and all(r.get("ok") for r in rows)
    jobs = json.loads(tessera("ls", "--json").stdout)
    assert len([j for j in jobs if j["name"].startswith("bench-")]) == len(rows)
    assert all(j["state"] == "succeeded" for j in jobs)
    shown = tessera("bench", "--show").stdout
    assert "matmul" in shown and "blur" in shown
