"""YAML job files: several jobs that refer to each other by name, with shared defaults."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

from tessera.errors import SpecError
from tessera.models.spec import ArraySpec, JobSpec, parse_dependency, spec_error

EXAMPLE = """\
defaults: {project: demo, retries: 1}
jobs:
  - name: prepare
    command: [python3, -c, "print('ready')"]
  - name: simulate
    command: [python3, -c, "import os; print(os.environ['TESSERA_ARRAY_INDEX'])"]
    array: 0-9%4
    dependency: afterok:prepare
"""
_SHORT = {"cpus", "memory_mb", "gpus"}


def load(path: str | Path) -> list[JobSpec]:
    """Read a job file. Raises ``SpecError`` naming the job and field at fault."""
    return parse(read(path, "job file"), str(path))


def read(path: str | Path, what: str) -> str:
    """A YAML file's text, or a ``SpecError`` saying why it cannot be read."""
    p = Path(path)
    try:
        return p.read_text()
    except OSError as e:
        raise SpecError(f"cannot read {what} {p}: {e.strerror}", "give the path of an existing YAML file") from None


def parse(text: str, where: str = "job file") -> list[JobSpec]:
    import yaml  # here: the SDK imports this module for ``to_spec`` only

    fix = "write the file as in this example:\n" + EXAMPLE
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise SpecError(f"{where} is not valid YAML: {e}", fix) from None
    if not isinstance(doc, dict) or not isinstance(doc.get("jobs"), list) or not doc["jobs"]:
        raise SpecError(f"{where} needs a non-empty 'jobs' list", fix)
    unknown = set(doc) - {"defaults", "jobs"}
    if unknown:
        raise SpecError(f"{where}: unknown top-level keys {sorted(unknown)}", fix)
    defaults = doc.get("defaults") or {}
    if not isinstance(defaults, dict):
        raise SpecError(f"{where}: 'defaults' must be a mapping", fix)
    specs = []
    names: set[str] = set()
    for n, raw in enumerate(doc["jobs"]):
        label = f"{where}: job {n + 1}"
        if not isinstance(raw, dict):
            raise SpecError(f"{label} is not a mapping", fix)
        fields = {**defaults, **raw}
        label = f"{where}: job {fields.get('name', n + 1)!s}"
        spec = to_spec(fields, label)
        if spec.name in names:
            raise SpecError(f"{label}: the name {spec.name!r} is used twice", "give every job a unique name")
        if spec.name:
            names.add(spec.name)
        specs.append(spec)
    return specs


def to_spec(fields: dict[str, Any], label: str = "job") -> JobSpec:
    """Build a spec from file or API fields, accepting the short forms used on the command line."""
    f = dict(fields)
    try:
        res = f.pop("resources", None) or {}
        if not isinstance(res, dict):
            raise SpecError(f"{label}: resources must be a mapping, e.g. {{cpus: 2, memory_mb: 4096}}",
                            "write resources as a mapping of cpus, memory_mb and gpus")
        res = dict(res)
        for k in _SHORT & set(f):
            res[k] = f.pop(k)
        if res:
            f["resources"] = res
        if "retries" in f:
            retry = dict(f.pop("retry", None) or {})
            retry["attempts"] = int(f.pop("retries")) + 1
            f["retry"] = retry
        if isinstance(f.get("array"), str | int):
            f["array"] = ArraySpec.parse(str(f["array"]), (f.get("array_max_failures")))
        f.pop("array_max_failures", None)
        if "dependency" in f:
            f["dependencies"] = parse_dependency(str(f.pop("dependency")))
        elif isinstance(f.get("dependencies"), str):
            f["dependencies"] = parse_dependency(f["dependencies"])
        if isinstance(f.get("command"), str):
            raise SpecError(
                f"{label}: command is a string; tessera runs argument lists, never shell strings",
                'write it as a list, e.g. command: [python3, sim.py, --n, "10"]',
            )
        return JobSpec.model_validate(f)
    except ValidationError as e:
        raise spec_error(e, label) from None
    except SpecError as e:
        if e.what.startswith(label):
            raise
        raise SpecError(f"{label}: {e.what}", e.fix) from None
    except (TypeError, ValueError) as e:
        raise SpecError(f"{label}: {e}", "check the field types against `tessera submit --help`") from None
