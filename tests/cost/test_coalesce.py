"""Tiny-job coalescing: the decision (pure), and arrays run in chunks that keep every element's
own result, state, events and retry budget through failures, cancels and a worker's kill -9."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import psutil
import pytest

import tessera
from tessera.errors import SpecError
from tessera.models.states import JobState
from tessera.placement.coalesce import MAX_CHUNK, decide, parse_mode
from tests.conftest import wait_for
from tests.cost import coalesce_jobs as jobs


def test_decide_from_runtime_against_overhead() -> None:
    d = decide("auto", 0.0001, 0.0005, 10_000, 2)
    assert d.chunk == 5 and d.reason == "coalesced 5 elements per round trip: 0.1 ms each vs 0.5 ms overhead"
    assert decide("auto", 0.000001, 0.0005, 10_000, 2).chunk == MAX_CHUNK  # capped
    assert decide("auto", 0.000001, 0.0005, 20, 2).chunk == 10  # every slot still gets elements
    slow = decide("auto", 0.002, 0.0005, 10_000, 2)
    assert slow.chunk == 1 and slow.reason.startswith("not coalesced: 2 ms each vs 0.5 ms overhead")
    assert decide("auto", None, 0.0005, 100, 2).chunk == 1 and "no runtime measured" in decide(
        "auto", None, 0.0005, 100, 2).reason
    assert decide("off", 0.0001, 0.0005, 100, 2).chunk == 1
    assert decide("8", 0.01, 0.0005, 100, 2).chunk == 8  # forced, whatever the figures
    assert decide("8", None, None, 100, 2, timeout_s=0.5).chunk == 1  # a held reply could look late
    assert parse_mode(" 16 ") == "16" and parse_mode("AUTO") == "auto"
    for bad in ("0", "65", "many", "-3"):
        with pytest.raises(SpecError) as e:
            parse_mode(bad)
        assert "To fix:" in e.value.message


def test_coalesced_array_keeps_each_elements_result_state_and_retry(home: Path, tmp_path: Path) -> None:
    with tessera.Client(cpus=2, workers=2) as c:
        h = c.map_async(jobs.flaky, range(200), kwargs={"marker_dir": str(tmp_path)}, retries=1,
                        placement={"coalesce": 16})
        values = c.array_results(h, timeout=300)
        assert values == [i * i for i in range(200)]
        arr = c.store.job(h.id)
        assert arr.state is JobState.SUCCEEDED
        assert arr.spec.placement is not None and arr.spec.placement.coalesced is not None
        assert arr.spec.placement.coalesced["chunk"] == 16 and arr.spec.env["TESSERA_COALESCE"] == "16"
        five = c.store.job(f"{h.id}_5")
        assert five.state is JobState.SUCCEEDED and five.retries_used == 1  # its own budget, nobody else's
        assert [a.state for a in c.store.attempts(five.id)] == ["failed", "succeeded"]
        others = [c.store.job(f"{h.id}_{i}") for i in (0, 6, 199)]
        assert all(j.retries_used == 0 and len(c.store.attempts(j.id)) == 1 for j in others)
        assert all(e.dst for e in c.store.events(others[0].id))  # each element has its own events
        seen = c.map(jobs.echo, range(64), placement={"coalesce": 8})
        assert [s["i"] for s in seen] == list(range(64)) and {s["chunk"] for s in seen} == {"8"}
        plain = c.map(jobs.echo, range(8), placement={"coalesce": "off"})
        assert {s["chunk"] for s in plain} == {None}  # forbidden: not coalesced


def test_cancel_mid_array_ends_every_element(home: Path) -> None:
    with tessera.Client(cpus=2, workers=2) as c:
        h = c.map_async(jobs.nap, range(3000), kwargs={"seconds": 0.005}, placement={"coalesce": 32})
        wait_for(lambda: c.store.job(h.id).counts.get("done", 0) >= 50, 120, "some elements to succeed")
        h.cancel()
        wait_for(lambda: c.store.job(h.id).state.terminal, 120, "the array to end")
        states = [row[2] for row in c.store.array_results(h.id)]
        assert len(states) == 3000 and states.count("succeeded") >= 50 and states.count("cancelled") > 0
        assert set(states) == {"succeeded", "cancelled"}  # every element ended: none lost, none failed


def test_worker_killed_mid_chunk_loses_no_element(home: Path) -> None:
    with tessera.Client(cpus=2, workers=2) as c:
        h = c.map_async(jobs.nap, range(2000), kwargs={"seconds": 0.002}, placement={"coalesce": 32})
        wait_for(lambda: c.store.job(h.id).counts.get("done", 0) >= 100, 120, "some elements to succeed")
        workers = [p for p in psutil.Process().children(recursive=True) if "tessera.executors._boot" in " ".join(
            p.cmdline())]
        assert workers
        os.kill(workers[0].pid, signal.SIGKILL)  # mid-chunk: replies held in it are lost with it
        values = c.array_results(h, timeout=300)
        assert values == list(range(2000))
        arr = c.store.job(h.id)
        assert arr.state is JobState.SUCCEEDED and arr.counts.get("done") == 2000
        elements = [row[0] for row in c.store.array_results(h.id)]
        states = [a.state for jid in elements for a in c.store.attempts(jid)]
        assert states.count("succeeded") == 2000  # each element committed exactly once


def test_cli_flag_is_checked_and_explain_shows_the_decision(home: Path) -> None:
    from tessera.cli.cost import explain_placement, placement_fields

    with pytest.raises(SpecError) as e:
        placement_fields(None, None, "time", None, None, "lots")
    assert "To fix:" in e.value.message
    assert placement_fields(None, None, "time", None, None, "8")["coalesce"] == "8"
    with tessera.Client(cpus=2, workers=2) as c:
        h = c.map_async(jobs.echo, range(40), placement={"coalesce": "auto"})
        c.array_results(h, timeout=120)
        first = explain_placement(c.store.job(h.id))
        assert first == ["Coalescing: not coalesced: no runtime measured yet for this model."]
        h2 = c.map_async(jobs.echo, range(40), placement={"coalesce": "auto"})  # now it has figures
        c.array_results(h2, timeout=120)
        (line,) = explain_placement(c.store.job(h2.id))
        assert line.startswith("Coalescing: ") and " ms each vs " in line and " ms overhead" in line


def test_arrays_of_python_jobs_are_coalesced_by_default_when_the_figures_say_so(
        home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tessera.models.spec import ArraySpec, JobSpec
    from tessera.placement import apply
    from tessera.scheduler.decide import Capacity
    from tessera.store import Store

    store = Store(f"sqlite:///{home / 'tessera.db'}")
    monkeypatch.setattr(apply, "element_figures", lambda _store, key, slots: (0.0001, 0.0005))
    array = JobSpec(function="tests.cost.coalesce_jobs:echo", name="echo", array=ArraySpec.of_size(1000))
    single = JobSpec(function="tests.cost.coalesce_jobs:echo", name="echo")
    command = JobSpec(command=["true"], name="echo", array=ArraySpec.of_size(1000))
    out = apply.coalesce_arrays(store, [array, single, command], Capacity(2, 4096))
    assert out[0].env["TESSERA_COALESCE"] == "5" and out[0].placement is not None
    assert out[0].placement.coalesced is not None and out[0].placement.coalesced["mode"] == "auto"
    assert out[1] is single and out[2] is command  # one job, or commands: never
    monkeypatch.setattr(apply, "element_figures", lambda _store, key, slots: (0.002, 0.0005))
    assert apply.coalesce_arrays(store, [array], Capacity(2, 4096))[0] is array  # not worth it: untouched
    store.close()


def _finished_array(store, spec, gap: float = 1.0) -> None:  # type: ignore[no-untyped-def]
    """Submit array ``spec`` and mark it finished: element i started running at 100 + i × ``gap``,
    ended 0.5 s later."""
    from sqlalchemy import text

    from tessera.store import NewJob

    arr = store.submit([NewJob(spec)])[0]
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE jobs SET state = 'succeeded' WHERE id = :a"), {"a": arr})
        for jid, index in conn.execute(text("SELECT id, array_index FROM jobs WHERE array_id = :a"), {"a": arr}):
            conn.execute(text("UPDATE jobs SET state = 'succeeded', ended_at = :e WHERE id = :j"),
                         {"e": 100.5 + index * gap, "j": jid})
            conn.execute(text("INSERT INTO events (job_id, at, src, dst) VALUES (:j, :t, 'starting', 'running')"),
                         {"j": jid, "t": 100.0 + index * gap})


def test_element_figures_come_from_the_last_elements_of_the_last_finished_array(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Elements i = 0..9 start at 100 + i and run 0.5 s each on one slot; only the last
    ``SAMPLE_ELEMENTS`` (4 here) are read: median run 0.5 s, span 3.5 s over 4 → 0.375 s overhead."""
    from tessera.models.spec import ArraySpec, make_spec
    from tessera.placement import apply
    from tessera.store import Store

    monkeypatch.setattr(apply, "SAMPLE_ELEMENTS", 4)
    store = Store(f"sqlite:///{tmp_path / 'store.db'}")
    try:
        assert apply.element_figures(store, "sq", 1) == (None, None)
        _finished_array(store, make_spec(command=["true"], name="sq", array=ArraySpec.parse("0-9")))
        run, overhead = apply.element_figures(store, "sq", 1)
        assert run == pytest.approx(0.5) and overhead == pytest.approx(3.5 / 4 - 0.5)
    finally:
        store.close()


def test_overhead_is_per_round_trip_so_auto_does_not_swing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same timings as above, for an array that ran 8 elements per round trip: its overhead
    per element is scaled by 8, so a well-coalesced array does not make the next one of the same
    model look cheap enough to run one by one."""
    from tessera.models.spec import ArraySpec, make_spec
    from tessera.placement import apply
    from tessera.store import Store

    monkeypatch.setattr(apply, "SAMPLE_ELEMENTS", 4)
    store = Store(f"sqlite:///{tmp_path / 'store.db'}")
    try:
        _finished_array(store, make_spec(function="tests.cost.coalesce_jobs:echo", name="sq",
                                         array=ArraySpec.parse("0-9"), env={"TESSERA_COALESCE": "8"}))
        run, overhead = apply.element_figures(store, "sq", 1)
        assert run == pytest.approx(0.5) and overhead == pytest.approx((3.5 / 4 - 0.5) * 8)
    finally:
        store.close()


def _figures_after_plain_then_coalesced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        gap: float) -> tuple[float | None, float | None]:
    """``element_figures`` after one array run one by one (elements 1 s apart) and one at chunk 8
    (elements ``gap`` s apart), each element running 0.5 s."""
    from tessera.models.spec import ArraySpec, make_spec
    from tessera.placement import apply
    from tessera.store import Store

    monkeypatch.setattr(apply, "SAMPLE_ELEMENTS", 4)
    store = Store(f"sqlite:///{tmp_path / 'store.db'}")
    try:
        fn = "tests.cost.coalesce_jobs:echo"
        _finished_array(store, make_spec(function=fn, name="sq", array=ArraySpec.parse("0-9")))
        _finished_array(store, make_spec(function=fn, name="sq", array=ArraySpec.parse("0-9"),
                                         env={"TESSERA_COALESCE": "8"}), gap=gap)
        return apply.element_figures(store, "sq", 1)
    finally:
        store.close()


def test_round_trip_overhead_is_fitted_from_one_array_run_one_by_one_and_one_coalesced(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Overhead per element ``a + b / c``: one by one (gap 1 s) 0.375 s; at chunk 8 (gap 0.6 s)
    (3 × 0.6 + 0.5) / 4 - 0.5 = 0.075 s; so a round trip costs b = 0.3 / (1 - 1/8) s, and ``auto``
    keeps the chunk that pays (not one that grows with the chunk it ran with)."""
    from tessera.placement.coalesce import decide

    run, overhead = _figures_after_plain_then_coalesced(tmp_path, monkeypatch, gap=0.6)
    assert run == pytest.approx(0.5) and overhead == pytest.approx(0.3 / (1 - 1 / 8))
    assert decide("auto", run, overhead, 1000, 1).chunk == 1  # 0.34 s of round trip against 0.5 s of work
    assert decide("auto", 0.1, overhead, 1000, 1).chunk == 4


def test_coalescing_that_did_not_pay_stops(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run at chunk 8 with the same overhead per element as one by one: round trips cost nothing
    that coalescing could spread (b = 0), so ``auto`` runs the next array one by one again, however
    short its elements (before, the overhead × 8 made ``auto`` coalesce more and more)."""
    from tessera.placement.coalesce import decide

    _run, overhead = _figures_after_plain_then_coalesced(tmp_path, monkeypatch, gap=1.0)
    assert overhead == 0.0
    assert decide("auto", 0.0001, overhead, 1000, 1).chunk == 1
