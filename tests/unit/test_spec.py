"""Job specifications refuse hostile and malformed input with a SpecError that says how to fix it."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from tessera.errors import NotFoundError, SpecError
from tessera.jobfile import to_spec
from tessera.models.job import parse_ref
from tessera.models.spec import (
    MAX_ARRAY_SIZE,
    ArraySpec,
    Dependency,
    DependencyKind,
    JobSpec,
    make_spec,
    parse_dependency,
    parse_indices,
)

CMD = {"command": ["echo", "hi"]}


def test_minimal_command_spec() -> None:
    spec = make_spec(**CMD)
    assert spec.kind == "command"
    assert spec.command == ("echo", "hi")
    assert spec.resources.cpus == 1.0 and spec.resources.gpus == 0 and spec.resources.memory_mb is None
    assert spec.retry.attempts == 1
    assert spec.queue == "default" and spec.project == "default"


@pytest.mark.parametrize(
    ("fields", "kind"),
    [({"command": ["true"]}, "command"), ({"function": "pkg.mod:fn"}, "function"),
     ({"kernel": "matmul"}, "kernel"), ({"payload": b"x"}, "pickle")],
)
def test_kind(fields: dict[str, Any], kind: str) -> None:
    assert make_spec(**fields).kind == kind


HOSTILE: list[tuple[str, dict[str, Any]]] = [
    ("no body", {}),
    ("two bodies", {"command": ["true"], "function": "a:b"}),
    ("empty command", {"command": []}),
    ("empty argv0", {"command": [""]}),
    ("NUL in argument", {"command": ["echo", "a\x00b"]}),
    ("unknown field", {**CMD, "shell": True}),
    ("unknown nested field", {**CMD, "resources": {"cpus": 1, "disk_gb": 3}}),
    ("name with quote", {**CMD, "name": "a'b"}),
    ("name with double quote", {**CMD, "name": 'a"b'}),
    ("name with newline", {**CMD, "name": "a\nb"}),
    ("name with NUL", {**CMD, "name": "a\x00b"}),
    ("name with trailing newline", {**CMD, "name": "ab\n"}),
    ("env key with trailing newline", {**CMD, "env": {"A\n": "x"}}),
    ("function with trailing newline", {"function": "a:b\n"}),
    ("rule glob with trailing newline", {**CMD, "retry": {"rules": [{"action": "retry", "on_exit_code": "1\n"}]}}),
    ("name too long", {**CMD, "name": "x" * 129}),
    ("name with semicolon", {**CMD, "name": "a;rm -rf /"}),
    ("negative cpus", {**CMD, "resources": {"cpus": -1}}),
    ("zero cpus", {**CMD, "resources": {"cpus": 0}}),
    ("nan cpus", {**CMD, "resources": {"cpus": float("nan")}}),
    ("inf cpus", {**CMD, "resources": {"cpus": float("inf")}}),
    ("huge cpus", {**CMD, "resources": {"cpus": 1e300}}),
    ("negative memory", {**CMD, "resources": {"memory_mb": -5}}),
    ("zero memory", {**CMD, "resources": {"memory_mb": 0}}),
    ("huge memory", {**CMD, "resources": {"memory_mb": 10**30}}),
    ("negative gpus", {**CMD, "resources": {"gpus": -1}}),
    ("huge gpus", {**CMD, "resources": {"gpus": 10**9}}),
    ("fractional gpus", {**CMD, "resources": {"gpus": 0.5}}),
    ("zero timeout", {**CMD, "timeout_s": 0}),
    ("negative timeout", {**CMD, "timeout_s": -1}),
    ("nan timeout", {**CMD, "timeout_s": float("nan")}),
    ("inf timeout", {**CMD, "timeout_s": float("inf")}),
    ("huge priority", {**CMD, "priority": 10**12}),
    ("bad queue", {**CMD, "queue": "Bad Queue"}),
    ("queue with newline", {**CMD, "queue": "q\n"}),
    ("bad project", {**CMD, "project": "../etc"}),
    ("env key with =", {**CMD, "env": {"A=B": "x"}}),
    ("env key empty", {**CMD, "env": {"": "x"}}),
    ("env value NUL", {**CMD, "env": {"A": "x\x00"}}),
    ("bad tag key", {**CMD, "tags": {"a b": "x"}}),
    ("too many tags", {**CMD, "tags": {f"k{i}": "v" for i in range(65)}}),
    ("bad function", {"function": "os.system('x')"}),
    ("function without colon", {"function": "module.function"}),
    ("zero attempts", {**CMD, "retry": {"attempts": 0}}),
    ("too many attempts", {**CMD, "retry": {"attempts": 1000}}),
    ("negative backoff", {**CMD, "retry": {"backoff_s": -1}}),
    ("rule without match", {**CMD, "retry": {"rules": [{"action": "retry"}]}}),
    ("rule unknown action", {**CMD, "retry": {"rules": [{"action": "explode", "on_exit_code": "1"}]}}),
    ("rule unknown reason", {**CMD, "retry": {"rules": [{"action": "retry", "on_reason": "cosmic_ray"}]}}),
    ("rule bad glob", {**CMD, "retry": {"rules": [{"action": "retry", "on_exit_code": "1; rm"}]}}),
    ("array with cap in spec", {**CMD, "array": {"spec": "0-9%2"}}),
    ("array open range", {**CMD, "array": {"spec": "0-"}}),
    ("array zero cap", {**CMD, "array": {"spec": "0-9", "max_running": 0}}),
    ("dependency unknown kind", {**CMD, "dependencies": [{"kind": "afterlunch", "on": ["1"]}]}),
    ("dependency empty", {**CMD, "dependencies": [{"kind": "afterok", "on": []}]}),
    ("dependency newline ref", {**CMD, "dependencies": [{"kind": "afterok", "on": ["1\n2"]}]}),
]


@pytest.mark.parametrize("fields", [h[1] for h in HOSTILE], ids=[h[0] for h in HOSTILE])
def test_hostile_specs_are_refused(fields: dict[str, Any]) -> None:
    with pytest.raises(SpecError) as err:
        make_spec(**fields)
    assert "To fix:" in str(err.value)
    assert err.value.exit_code == 2


def test_unknown_field_is_named() -> None:
    with pytest.raises(SpecError, match="shell: unknown field"):
        make_spec(**CMD, shell=True)


def test_specs_are_frozen() -> None:
    spec = make_spec(**CMD)
    with pytest.raises(ValidationError):
        spec.name = "x"  # type: ignore[misc]


def test_spec_round_trips_through_json() -> None:
    spec = to_spec({"command": ["a", "b"], "cpus": 2, "memory_mb": 64, "retries": 2, "array": "0-9%3",
                    "dependency": "afterok:1:2,afterany:3", "env": {"X": "1"}, "tags": {"k": "v"}})
    again = JobSpec.model_validate_json(spec.model_dump_json())
    assert again == spec


# ---------------------------------------------------------------- short forms (CLI and job files)


def test_to_spec_short_forms() -> None:
    spec = to_spec({"command": ["x"], "cpus": 2, "gpus": 1, "memory_mb": 100, "retries": 3, "array": "0-9%4",
                    "array_max_failures": 2, "dependency": "afterok:7"})
    assert spec.resources.cpus == 2 and spec.resources.gpus == 1 and spec.resources.memory_mb == 100
    assert spec.retry.attempts == 4
    assert spec.array is not None and spec.array.size == 10 and spec.array.max_running == 4
    assert spec.array.max_failures == 2
    assert spec.dependencies == (Dependency(kind=DependencyKind.AFTEROK, on=("7",)),)


@pytest.mark.parametrize(
    "fields",
    [
        {"command": "rm -rf /"},
        {"command": "echo hi; reboot"},
        {"command": ["x"], "array": "0-"},
        {"command": ["x"], "array": "5-1"},
        {"command": ["x"], "array": "0-9%0"},
        {"command": ["x"], "array": "0-9%-1"},
        {"command": ["x"], "array": "0-999999999999"},
        {"command": ["x"], "array": "a-b"},
        {"command": ["x"], "dependency": "afterlunch:1"},
        {"command": ["x"], "dependency": "afterok"},
        {"command": ["x"], "dependency": "afterok:"},
        {"command": ["x"], "dependency": "afterok:1?afterok:2"},
        {"command": ["x"], "retries": "many"},
        {"command": ["x"], "retries": -1},
        {"command": ["x"], "cpus": "lots"},
        {"command": ["x"], "resources": "big"},
    ],
)
def test_to_spec_refuses(fields: dict[str, Any]) -> None:
    with pytest.raises(SpecError) as err:
        to_spec(fields, "job x")
    assert str(err.value).startswith("job x")
    assert "To fix:" in str(err.value)


def test_string_command_names_the_problem() -> None:
    with pytest.raises(SpecError, match="never shell strings"):
        to_spec({"command": "echo hi"})


# ---------------------------------------------------------------- arrays


@pytest.mark.parametrize(
    ("text", "indices", "cap"),
    [
        ("0", (0,), None),
        ("0-3", (0, 1, 2, 3), None),
        ("0-9:3", (0, 3, 6, 9), None),
        ("1,3,5-7", (1, 3, 5, 6, 7), None),
        ("5,1,1,3", (1, 3, 5), None),
        ("0-99%10", tuple(range(100)), 10),
        (" 2-4 ", (2, 3, 4), None),
    ],
)
def test_parse_indices(text: str, indices: tuple[int, ...], cap: int | None) -> None:
    assert parse_indices(text) == (indices, cap)


@pytest.mark.parametrize(
    "text",
    ["", " ", "0-", "-1", "3-1", "0-9:0", "0-9%", "0-9%0", "0-9%x", "1,,2", "a", "0-9%2%3",
     "0-1000000000", f"0-{MAX_ARRAY_SIZE}", "1;2", "x" * 20_000, "0-5\x00", "0-5\n6"],
)
def test_parse_indices_refuses(text: str) -> None:
    with pytest.raises(SpecError) as err:
        parse_indices(text)
    assert "To fix:" in str(err.value)


def test_array_size_limit_is_inclusive() -> None:
    assert len(parse_indices(f"0-{MAX_ARRAY_SIZE - 1}")[0]) == MAX_ARRAY_SIZE


def test_array_spec_parse_and_of_size() -> None:
    a = ArraySpec.parse("0-999%10", max_failures=5)
    assert a.size == 1000 and a.max_running == 10 and a.max_failures == 5 and a.spec == "0-999"
    b = ArraySpec.of_size(3, 2)
    assert b.indices == (0, 1, 2) and b.max_running == 2


# ---------------------------------------------------------------- dependencies and refs


def test_parse_dependency() -> None:
    deps = parse_dependency("afterok:1:2,afterany:3,afternotok:prep,aftercorr:9")
    assert [(d.kind.value, d.on) for d in deps] == [
        ("afterok", ("1", "2")), ("afterany", ("3",)), ("afternotok", ("prep",)), ("aftercorr", ("9",))]


@pytest.mark.parametrize(
    "text",
    ["", "afterok", "afterok:", "after:1", "afterlunch:1", "AFTEROK:1", "afterok:1?afterany:2",
     "afterok:a b", "afterok:1;2", "afterok:'1'", "singleton", "afterok::1", "x" * 20_000],
)
def test_parse_dependency_refuses(text: str) -> None:
    with pytest.raises(SpecError) as err:
        parse_dependency(text)
    assert "To fix:" in str(err.value)


@pytest.mark.parametrize(("text", "ref"), [("12", (12, None)), ("12_3", (12, 3)), (7, (7, None)), (" 5 ", (5, None))])
def test_parse_ref(text: str | int, ref: tuple[int, int | None]) -> None:
    assert parse_ref(text) == ref


@pytest.mark.parametrize("text", ["", "x", "-1", "1_", "_1", "1_2_3", "1e3", "9" * 30, "1; drop table jobs"])
def test_parse_ref_refuses(text: str) -> None:
    with pytest.raises(NotFoundError):
        parse_ref(text)
