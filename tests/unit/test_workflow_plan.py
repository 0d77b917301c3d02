"""Workflow specs and plans: validation with ``To fix:``, cycles, wiring, port types, keys, compiled dependencies."""

from __future__ import annotations

from typing import Any

import pytest

import tests.wf_components  # noqa: F401 - registers the test.* components
from tessera.errors import CycleError, SpecError
from tessera.models.spec import DependencyKind
from tessera.workflows import registry
from tessera.workflows.plan import StepJob, _compress, compile_jobs, plan
from tessera.workflows.records import StepRecord, step_state, workflow_state
from tessera.workflows.spec import from_dict, is_workflow, parse


def wf(*steps: dict[str, Any], **top: Any) -> Any:
    return from_dict({"name": "w", "steps": list(steps), **top})


def planned(*steps: dict[str, Any]) -> Any:
    return plan(wf(*steps), registry.get)


def compiled(*steps: dict[str, Any], finished: set[str] | None = None) -> dict[str, StepJob]:
    p = planned(*steps)
    return {c.step: c for c in compile_jobs(p, finished or set(), "/tmp/arts")}


def deps(job: StepJob) -> dict[str, tuple[str, ...]]:
    assert job.spec is not None
    return {d.kind.value: d.on for d in job.spec.dependencies}


FAN = [
    {"name": "sq", "component": "test.square", "map": {"range": 4}},
    {"name": "shift", "component": "test.shift", "inputs": {"x": "sq.out"}},
    {"name": "total", "component": "array.sum", "inputs": {"items": "shift.out"}},
]


# ------------------------------------------------------------------ the spec


def test_yaml_workflow_is_told_apart_from_a_job_file() -> None:
    assert is_workflow({"steps": []}) and not is_workflow({"jobs": []})
    spec = parse("name: a\nsteps:\n  - {name: s, component: array.random, params: {shape: [2]}}\n")
    assert spec.steps[0].component == "array.random"


@pytest.mark.parametrize(("doc", "words"), [
    ("steps: [", "not valid YAML"),
    ("name: a\n", "needs a 'steps' list"),
    ("name: a\nsteps: []\n", "at least one step"),
    ("name: a\nsteps:\n  - {name: s, component: x, colour: red}\n", "unknown field"),
    ("name: a\nsteps:\n  - {name: s, component: x}\n  - {name: s, component: y}\n", "used twice"),
    ("name: a\nsteps:\n  - {name: s, component: x, inputs: {x: nodot}}\n", "STEP.OUTPUT"),
    ("name: a\nsteps:\n  - {name: S!, component: x}\n", "step name"),
    ("name: a\nsteps:\n  - {name: s, component: x, map: {}}\n", "exactly one of over"),
    ("name: a\nsteps:\n  - {name: s, component: x, when: {}}\n", "failed"),
    ("name: a\ndefaults: {colour: red}\nsteps:\n  - {name: s, component: x}\n", "defaults may set only"),
])
def test_bad_specs_are_refused_with_a_fix(doc: str, words: str) -> None:
    with pytest.raises(SpecError) as e:
        parse(doc, "wf.yaml")
    assert words in str(e.value) and "To fix:" in str(e.value)


def test_defaults_fill_steps() -> None:
    spec = wf({"name": "a", "component": "test.source"}, {"name": "b", "component": "test.source", "retries": 0},
              defaults={"retries": 2, "resources": {"cpus": 0.5}})
    assert spec.step("a").retries == 2 and spec.step("b").retries == 0
    assert spec.step("a").resources is not None and spec.step("a").resources.cpus == 0.5


# ------------------------------------------------------------------ plan: refusals


def test_unknown_component_step_and_ports() -> None:
    with pytest.raises(SpecError, match="unknown component 'no.such'"):
        planned({"name": "a", "component": "no.such"})
    with pytest.raises(SpecError, match="refers to step 'ghost'"):
        planned({"name": "a", "component": "test.scale", "inputs": {"x": "ghost.out"}})
    with pytest.raises(SpecError, match="has no output 'nope'"):
        planned({"name": "a", "component": "test.source"},
                {"name": "b", "component": "test.scale", "inputs": {"x": "a.nope"}})
    with pytest.raises(SpecError, match="has no input 'y'"):
        planned({"name": "a", "component": "test.source"},
                {"name": "b", "component": "test.scale", "inputs": {"y": "a.out"}})
    with pytest.raises(SpecError, match="are not wired") as e:
        planned({"name": "b", "component": "test.scale"})
    assert "To fix: wire them" in str(e.value)


def test_cycles_are_refused() -> None:
    with pytest.raises(CycleError, match="a -> b -> a|b -> a -> b"):
        planned({"name": "a", "component": "test.scale", "inputs": {"x": "b.out"}},
                {"name": "b", "component": "test.scale", "inputs": {"x": "a.out"}})
    with pytest.raises(CycleError, match="depends on itself"):
        planned({"name": "a", "component": "test.scale", "inputs": {"x": "a.out"}})
    with pytest.raises(CycleError):
        planned({"name": "a", "component": "test.source", "after": ["c"]},
                {"name": "b", "component": "test.source", "after": ["a"]},
                {"name": "c", "component": "test.source", "when": {"failed": ["b"]}})


def test_port_type_mismatches_are_refused() -> None:
    with pytest.raises(SpecError) as e:  # a file into an array input
        planned({"name": "d", "component": "test.source"},
                {"name": "t", "component": "test.describe", "inputs": {"x": "d.out"}},
                {"name": "s", "component": "test.scale", "inputs": {"x": "t.text"}})
    assert "input 'x' is array, but t.text gives file" in str(e.value) and "To fix:" in str(e.value)
    with pytest.raises(SpecError, match="gives json"):  # json elements cannot be gathered as arrays
        planned({"name": "n", "component": "test.note", "map": {"over": ["a", "b"], "as": "message"}},
                {"name": "s", "component": "array.sum", "inputs": {"items": "n.out"}})
    with pytest.raises(SpecError, match="is list\\[array\\], but a.out gives array"):
        planned({"name": "a", "component": "test.source"},
                {"name": "s", "component": "array.sum", "inputs": {"items": "a.out"}})


def test_parameters_are_checked_against_the_component() -> None:
    with pytest.raises(SpecError, match="unknown parameter") as e:
        planned({"name": "a", "component": "test.source", "params": {"colour": 1}})
    assert "step 'a'" in str(e.value) and "To fix:" in str(e.value)
    with pytest.raises(SpecError, match="n: Input should be a valid integer"):
        planned({"name": "a", "component": "test.source", "params": {"n": "many"}})
    with pytest.raises(SpecError, match="item"):  # the mapped items are checked too
        planned({"name": "a", "component": "test.square", "map": {"over": ["x", "y"]}})
    with pytest.raises(SpecError, match="both set and mapped"):
        planned({"name": "a", "component": "test.square", "params": {"item": 1}, "map": {"range": 2}})


def test_mapped_sizes_must_agree() -> None:
    with pytest.raises(SpecError, match="maps over 3 items but follows mapped steps of size 4"):
        planned(FAN[0], {"name": "s", "component": "test.scale", "inputs": {"x": "sq.out"},
                         "map": {"over": [1, 2, 3], "as": "factor"}})


def test_a_failure_handler_cannot_read_what_failed() -> None:
    with pytest.raises(SpecError, match="runs only when they fail"):
        planned({"name": "a", "component": "test.source"},
                {"name": "h", "component": "test.scale", "inputs": {"x": "a.out"}, "when": {"failed": ["a"]}})


# ------------------------------------------------------------------ plan: fan-out, fan-in, keys


def test_fan_out_continues_and_fan_in_gathers() -> None:
    p = planned(*FAN)
    sq, shift, total = p.step("sq"), p.step("shift"), p.step("total")
    assert sq.mapped and len(sq.keys) == 4 and len(set(sq.keys)) == 4
    assert shift.mapped and len(shift.keys) == 4  # follows sq element by element
    assert shift.sources["x"][0].how == "each" and total.sources["items"][0].how == "gather"
    assert not total.mapped and len(total.keys) == 1


def test_keys_follow_params_items_and_upstream() -> None:
    base = planned(*FAN)
    again = planned(*FAN)
    assert base.keys == again.keys
    changed = planned({**FAN[0], "map": {"range": [1, 5]}}, *FAN[1:])
    assert changed.step("sq").keys[:3] == base.step("sq").keys[1:]  # items 1-3 are the same work
    assert changed.step("total").keys != base.step("total").keys
    shifted = planned(FAN[0], {**FAN[1], "params": {"by": 2}}, FAN[2])
    assert shifted.step("sq").keys == base.step("sq").keys
    assert shifted.step("shift").keys != base.step("shift").keys
    assert shifted.step("total").keys != base.step("total").keys
    # resources and retries do not change results, so they do not change keys
    assert planned(FAN[0], {**FAN[1], "retries": 3, "resources": {"cpus": 0.5}}, FAN[2]).keys == base.keys


# ------------------------------------------------------------------ compile


def test_compile_wires_arrays_with_aftercorr_and_gathers_with_afterok() -> None:
    jobs = compiled(*FAN)
    sq, shift, total = jobs["sq"], jobs["shift"], jobs["total"]
    assert sq.spec is not None and sq.spec.array is not None and sq.spec.array.indices == (0, 1, 2, 3)
    assert sq.spec.function == "tessera.workflows.runner:run_step" and not sq.spec.dependencies
    assert deps(shift) == {"aftercorr": ("w.sq",)}
    assert deps(total) == {"afterok": ("w.shift",)}
    assert total.spec is not None and total.spec.array is None


def test_compile_conditions_and_ordering() -> None:
    jobs = compiled(
        {"name": "a", "component": "test.source"},
        {"name": "h", "component": "test.note", "params": {"message": "m"}, "when": {"failed": ["a"]}},
        {"name": "f", "component": "test.note", "params": {"message": "m"}, "when": {"done": ["a"]}},
        {"name": "later", "component": "test.source", "after": ["h"], "retries": 2, "timeout_s": 9},
    )
    assert deps(jobs["h"]) == {"afternotok": ("w.a",)}
    assert deps(jobs["f"]) == {"afterany": ("w.a",)}
    later = jobs["later"].spec
    assert deps(jobs["later"]) == {"afterok": ("w.h",)}
    assert later is not None and later.retry.attempts == 3 and later.timeout_s == 9
    assert later.tags == {"workflow": "w", "step": "later", "component": "test.source"}


def test_resume_submits_only_unfinished_elements() -> None:
    p = planned(*FAN)
    keys = {s.name: s.keys for s in p.steps}
    done = set(keys["sq"]) | {keys["shift"][0], keys["shift"][3]}
    jobs = {c.step: c for c in compile_jobs(p, done, "/tmp/arts")}
    assert jobs["sq"].status == "cached" and jobs["sq"].spec is None
    shift = jobs["shift"]
    assert shift.status == "submitted" and shift.indices == (1, 2)
    assert shift.spec is not None and shift.spec.array is not None and shift.spec.array.spec == "1-2"
    assert not shift.spec.dependencies  # sq is cached: shift can start at once
    assert deps(jobs["total"]) == {"afterok": ("w.shift",)}
    everything = {c.step: c.status for c in compile_jobs(p, set(p.keys), "/tmp/arts")}
    assert everything == {"sq": "cached", "shift": "cached", "total": "cached"}


def test_partial_upstream_falls_back_to_afterok() -> None:
    p = planned(*FAN)
    sq = p.step("sq").keys
    jobs = {c.step: c for c in compile_jobs(p, {sq[0]}, "/tmp/arts")}
    assert jobs["sq"].indices == (1, 2, 3)
    assert deps(jobs["shift"]) == {"afterok": ("w.sq",)}  # shift element 0 has no counterpart to pair with


def test_handler_of_a_cached_step_is_skipped_and_so_is_what_reads_it() -> None:
    steps = ({"name": "a", "component": "test.source"},
             {"name": "h", "component": "test.source", "when": {"failed": ["a"]}},
             {"name": "after_h", "component": "test.scale", "inputs": {"x": "h.out"}})
    p = planned(*steps)
    jobs = {c.step: c.status for c in compile_jobs(p, set(p.step("a").keys), "/tmp/arts")}
    assert jobs == {"a": "cached", "h": "skipped", "after_h": "skipped"}


def test_cache_false_always_runs() -> None:
    p = planned({"name": "a", "component": "test.source", "cache": False})
    assert compile_jobs(p, set(p.keys), "/tmp/arts")[0].status == "submitted"


def test_compress() -> None:
    assert _compress((0, 1, 2, 5, 7, 8)) == "0-2,5,7-8"
    assert _compress((3,)) == "3"


# ------------------------------------------------------------------ state


def test_workflow_state_from_steps() -> None:
    assert workflow_state(["succeeded", "cached", "skipped"]) == "succeeded"
    assert workflow_state(["succeeded", "running"]) == "running"
    assert workflow_state(["failed", "succeeded", "skipped"]) == "failed"
    assert workflow_state(["cancelled", "succeeded"]) == "cancelled"
    rec = StepRecord("s", 0, "c", "cached", None, None, ("k",))
    assert step_state(rec, None) == "cached"
    assert DependencyKind.AFTERCORR.value == "aftercorr"


def test_variants_go_to_placement_when_tessera_has_it() -> None:
    from tessera.models.spec import JobSpec

    step = {"name": "k", "component": "kernel.matmul", "params": {"n": 64},
            "variants": [{"name": "cpu", "cpus": 1}, {"name": "gpu", "gpus": 1}]}
    if "placement" not in JobSpec.model_fields:
        with pytest.raises(SpecError, match="no placement engine"):
            planned(step)
        return
    spec = compiled(step)["k"].spec
    assert spec is not None and [v.name for v in spec.placement.variants] == ["cpu", "gpu"]
    assert planned(step).keys == planned({**step, "variants": []}).keys  # where it runs is not what it computes


@pytest.mark.parametrize(("doc", "words"), [
    ({"imports": ["no_such_module_xyz"]}, "cannot import 'no_such_module_xyz'"),
    ({"components": {"lab.x": {"image": "alpine"}}}, "has no argv"),
    ({"components": {"lab.x": {"argv": ["true"], "colour": "red"}}}, "unknown fields ['colour']"),
    ({"components": {"lab.x": {"argv": "echo hi"}}}, "argv must be a non-empty list"),
    ({"components": {"lab.x": {"argv": ["true"], "inputs": ["a"]}}}, "component 'lab.x'"),
    ({"components": {"lab.x": {"argv": ["cat", "{inputs.a}"], "inputs": {"a": "blob"}}}}, "not a port type"),
])
def test_bad_imports_and_declared_components(doc: dict[str, Any], words: str) -> None:
    from tessera.workflows.engine import prepare

    spec = wf({"name": "a", "component": "test.source"}, **doc)
    with pytest.raises(SpecError) as e:
        prepare(spec)
    assert words in str(e.value) and "To fix:" in str(e.value)


def test_container_steps_need_an_engine(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    from tessera.errors import InfeasibleError
    from tessera.workflows.engine import prepare

    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("TESSERA_CONTAINER_ENGINE", raising=False)
    spec = wf({"name": "a", "component": "lab.hello"}, components={"lab.hello": {"argv": ["echo"], "image": "alpine"}})
    with pytest.raises(InfeasibleError, match="none is installed"):
        prepare(spec)


def test_hostile_maps_and_names() -> None:
    with pytest.raises(SpecError, match="between 1 and 100000"):
        wf({"name": "a", "component": "test.square", "map": {"range": 100_001}})
    with pytest.raises(SpecError, match="step name"):
        wf({"name": "a\nb", "component": "test.source"})
    with pytest.raises(SpecError, match="workflow name"):
        from_dict({"name": "x" * 64, "steps": [{"name": "a", "component": "test.source"}]})


def test_every_mapped_item_is_checked_and_coerced() -> None:
    items = list(range(20)) + ["twenty"]
    with pytest.raises(SpecError, match="item"):
        planned({"name": "a", "component": "test.square", "map": {"over": items}})
    p = planned({"name": "a", "component": "test.scale", "map": {"over": [1, 2.5], "as": "factor"},
                 "inputs": {"x": "s.out"}}, {"name": "s", "component": "test.source"})
    assert p.step("a").items == (1.0, 2.5)  # factor is a float: the int 1 arrives as 1.0
