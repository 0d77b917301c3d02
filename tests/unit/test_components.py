"""The component registry: typed ports, parameter schemas, kernels, commands, clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import tessera
from tessera.errors import SpecError
from tessera.kernels import names as kernel_names
from tessera.workflows import File, registry
from tessera.workflows.components import from_argv, from_function, render_argv
from tessera.workflows.ports import connects


def test_builtin_kernels_and_modules_are_registered() -> None:
    names = registry.names()
    for kernel in kernel_names():
        assert f"kernel.{kernel}" in names
    assert {"array.stack", "array.sum", "json.gather"} <= set(names)
    matmul = registry.get("kernel.matmul")
    assert matmul.kind == "kernel" and [p.name for p in matmul.outputs] == ["result"]
    schema = matmul.params_schema()
    assert schema["additionalProperties"] is False and "device" in schema["properties"]


def test_unknown_component_lists_the_names() -> None:
    with pytest.raises(SpecError) as e:
        registry.get("no.such")
    assert "array.stack" in str(e.value) and "To fix:" in str(e.value)


def test_decorator_types_inputs_params_and_outputs() -> None:
    @tessera.component("unit.scale", version="7", outputs={"out": "array", "norm": "json"})
    def scale(x: np.ndarray, ref: File, *, factor: float = 2.0, label: str) -> dict[str, object]:
        """Scale an array."""
        return {"out": x * factor, "norm": 0.0}

    try:
        comp = registry.get("unit.scale")
        assert comp.kind == "python" and comp.version == "7" and comp.summary == "Scale an array."
        assert [(p.name, p.type) for p in comp.inputs] == [("x", "array"), ("ref", "file")]
        assert [(p.name, p.type) for p in comp.outputs] == [("out", "array"), ("norm", "json")]
        assert comp.validate_params({"label": "a"}) == {"factor": 2.0, "label": "a"}
        described = json.loads(json.dumps(comp.describe()))
        assert described["params"]["required"] == ["label"]
        assert described["inputs"][0]["schema"]["x-tessera-port"] == "array"
        assert scale(np.ones(2), File("f"), label="a")["norm"] == 0.0  # still callable directly
        with pytest.raises(SpecError, match="unknown parameter") as e:
            comp.validate_params({"label": "a", "nope": 1})
        assert "To fix:" in str(e.value)
        with pytest.raises(SpecError, match="factor"):
            comp.validate_params({"label": "a", "factor": "fast"})
    finally:
        registry.unregister("unit.scale")


def test_same_name_from_another_function_is_refused() -> None:
    def one() -> int:
        return 1

    def two() -> int:
        return 2

    registry.register(from_function(one, "test.dup"))
    try:
        with pytest.raises(SpecError, match="registered twice"):
            registry.register(from_function(two, "test.dup"))
    finally:
        registry.unregister("test.dup")


def test_version_follows_the_source() -> None:
    def f(*, n: int = 1) -> int:
        return n

    def g(*, n: int = 1) -> int:
        return n + 1

    assert from_function(f, "test.f").version != from_function(g, "test.f").version


@pytest.mark.parametrize("bad", ["Bad Name", "x..y", "", "1abc"])
def test_bad_component_names(bad: str) -> None:
    def f() -> int:
        return 1

    with pytest.raises(SpecError, match="To fix"):
        from_function(f, bad)


def test_command_template_checks_placeholders() -> None:
    comp = from_argv("test.cmd", ["cp", "{inputs.src}", "{outputs.dst}", "--n", "{params.n}"],
                     inputs={"src": "file"}, outputs={"dst": "file"}, params={"n": {"type": "integer", "default": 3}})
    assert comp.kind == "command" and comp.validate_params({}) == {"n": 3}
    argv = render_argv(comp.argv, {"n": 3}, {"inputs": {"src": "/a"}, "outputs": {"dst": "/b"}})
    assert argv == ["cp", "/a", "/b", "--n", "3"]
    with pytest.raises(SpecError, match="not declared"):
        from_argv("test.cmd2", ["cp", "{inputs.nope}"])
    with pytest.raises(SpecError, match="never appear"):
        from_argv("test.cmd3", ["true"], outputs={"y": "file"})
    with pytest.raises(SpecError, match="needs a type"):
        from_argv("test.cmd4", ["true"], params={"n": 3})
    image = from_argv("test.img", ["run"], image="alpine:3")
    assert image.kind == "container" and image.target == "alpine:3"


def test_port_connections() -> None:
    assert connects("array", "array", mapped_source=False) == "whole"
    assert connects("array", "array", mapped_source=True) == "each"
    assert connects("array", "list[array]", mapped_source=True) == "gather"
    assert connects("array", "file", mapped_source=False) is None
    assert connects("json", "list[array]", mapped_source=True) is None
    assert connects("file", "any", mapped_source=True) == "each"


def test_path_annotation_is_a_file_port(tmp_path: Path) -> None:
    def f(src: Path) -> Path:
        return src

    comp = from_function(f, "test.path")
    assert comp.inputs[0].type == "file" and comp.outputs[0].type == "file"
