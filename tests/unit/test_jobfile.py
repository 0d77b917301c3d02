"""YAML job files: parsing, shared defaults, names, cycles and unknown names (nothing is stored)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tessera.errors import CycleError, SpecError
from tessera.jobfile import EXAMPLE, load, parse
from tessera.scheduler.decide import Capacity
from tessera.submit import submit

BIG = Capacity(cpus=64, memory_mb=1 << 20, gpus=(0, 1))


class _NoStore:
    """Fails the test if anything reaches the store."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the store was touched ({name}) for input that must be refused")


def test_example_parses() -> None:
    specs = parse(EXAMPLE)
    assert [s.name for s in specs] == ["prepare", "simulate"]
    assert all(s.project == "demo" and s.retry.attempts == 2 for s in specs)
    sim = specs[1]
    assert sim.array is not None and sim.array.size == 10 and sim.array.max_running == 4
    assert sim.dependencies[0].kind.value == "afterok" and sim.dependencies[0].on == ("prepare",)


def test_job_overrides_defaults() -> None:
    specs = parse("defaults: {cpus: 2, priority: 5}\njobs:\n  - {name: a, command: [x], cpus: 1}\n  - {name: b, command: [y]}\n")
    assert specs[0].resources.cpus == 1 and specs[1].resources.cpus == 2
    assert specs[0].priority == specs[1].priority == 5


def test_load_reads_a_file(tmp_path: Path) -> None:
    p = tmp_path / "jobs.yaml"
    p.write_text(EXAMPLE)
    assert len(load(p)) == 2


def test_load_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="cannot read job file"):
        load(tmp_path / "nope.yaml")


BAD_FILES = {
    "not yaml": "jobs: [\n",
    "not a mapping": "- a\n- b\n",
    "no jobs": "defaults: {}\n",
    "empty jobs": "jobs: []\n",
    "jobs not a list": "jobs: {a: 1}\n",
    "unknown top-level key": "jobs:\n  - {command: [x]}\nwhatever: 1\n",
    "defaults not a mapping": "defaults: [1]\njobs:\n  - {command: [x]}\n",
    "job not a mapping": "jobs:\n  - echo hi\n",
    "string command": "jobs:\n  - {name: a, command: 'rm -rf /tmp/x'}\n",
    "unknown field": "jobs:\n  - {name: a, command: [x], gpu: 1}\n",
    "duplicate names": "jobs:\n  - {name: a, command: [x]}\n  - {name: a, command: [y]}\n",
    "bad array": "jobs:\n  - {name: a, command: [x], array: '0-'}\n",
    "unknown dependency kind": "jobs:\n  - {name: a, command: [x]}\n  - {name: b, command: [x], dependency: 'afterwards:a'}\n",
    "negative cpus": "jobs:\n  - {name: a, command: [x], cpus: -2}\n",
    "python object tag": "jobs:\n  - {name: a, command: [x], tags: !!python/object:os.system {}}\n",
}


@pytest.mark.parametrize("text", list(BAD_FILES.values()), ids=list(BAD_FILES))
def test_bad_files_are_refused(text: str) -> None:
    with pytest.raises(SpecError) as err:
        parse(text, "jobs.yaml")
    assert str(err.value).startswith("jobs.yaml")
    assert "To fix:" in str(err.value)


def test_error_names_the_job() -> None:
    with pytest.raises(SpecError, match="job simulate"):
        parse("jobs:\n  - {name: simulate, command: [x], cpus: -1}\n", "f.yaml")


def test_cycle_is_refused_before_the_store() -> None:
    specs = parse("jobs:\n"
                  "  - {name: a, command: [x], dependency: 'afterok:c'}\n"
                  "  - {name: b, command: [x], dependency: 'afterok:a'}\n"
                  "  - {name: c, command: [x], dependency: 'afterany:b'}\n")
    with pytest.raises(CycleError) as err:
        submit(_NoStore(), specs, BIG)  # type: ignore[arg-type]
    assert "cycle" in err.value.what and "To fix:" in str(err.value)
    for name in "abc":
        assert name in err.value.what


def test_self_dependency_is_a_cycle() -> None:
    specs = parse("jobs:\n  - {name: a, command: [x], dependency: 'afterok:a'}\n")
    with pytest.raises(CycleError):
        submit(_NoStore(), specs, BIG)  # type: ignore[arg-type]


def test_unknown_name_is_refused_before_the_store() -> None:
    specs = parse("jobs:\n  - {name: a, command: [x], dependency: 'afterok:nosuchjob'}\n")
    with pytest.raises(SpecError, match="nosuchjob") as err:
        submit(_NoStore(), specs, BIG)  # type: ignore[arg-type]
    assert "To fix:" in str(err.value)


def test_infeasible_job_is_refused_before_the_store() -> None:
    from tessera.errors import InfeasibleError

    specs = parse("jobs:\n  - {name: a, command: [x]}\n  - {name: b, command: [x], gpus: 3}\n")
    with pytest.raises(InfeasibleError, match="3 GPUs"):
        submit(_NoStore(), specs, BIG)  # type: ignore[arg-type]
