"""``run_step``: what a workflow step's job runs on a worker - fetch inputs, run the component, store outputs.

A step's job is ``function: tessera.workflows.runner:run_step`` with the compiled step as its one
argument. For element i (``TESSERA_ARRAY_INDEX`` of a mapped step) it reads the upstream manifests
named by the cache keys, runs the component in a fresh directory, stores each output in the
artifact store, writes the element's manifest last, and returns the output references (JSON).
"""

from __future__ import annotations

import base64
import contextlib
import importlib
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from tessera.workflows.artifacts import ArtifactStore, Ref
from tessera.workflows.ports import element_type, is_list


class StepError(RuntimeError):
    """A step's command exited non-zero, or its outputs were missing or of the wrong type."""


_bodies: dict[tuple[str, str], dict[str, Any]] = {}


def run_step(workflow: str, step: str, artifacts: str, body: str) -> dict[str, Any]:
    """Run one element of a compiled step (see the module docstring); returns ``{key, outputs}``.

    Args:
        workflow: the workflow's name (for logs and ``tessera show``).
        step: the step's name.
        artifacts: the artifact store URL.
        body: the digest of the compiled step in the artifact store (read once per worker).
    """
    store = ArtifactStore(artifacts)
    if (artifacts, body) not in _bodies:
        if len(_bodies) > 64:
            _bodies.clear()
        _bodies[(artifacts, body)] = store.load(Ref(body, "json", 0))
    return _run(store, _bodies[(artifacts, body)])


def _run(store: ArtifactStore, step: dict[str, Any]) -> dict[str, Any]:
    index = int(os.environ.get("TESSERA_ARRAY_INDEX") or 0) if step.get("mapped") else 0
    key = step["keys"][index]
    comp = step["component"]
    params = dict(step["params"])
    if step.get("map_as"):
        params[step["map_as"]] = step["items"][index]
    inputs = {port: _refs(store, srcs, comp["inputs"][port], index) for port, srcs in step["sources"].items()}
    started = time.time()
    with _workdir() as work:
        if comp["kind"] in ("command", "container"):
            refs = _run_argv(store, comp, params, inputs, work)
        else:
            values = {port: _load(store, r, work) for port, r in inputs.items()}
            refs = _store_values(store, comp["outputs"], _call(comp, step.get("pickled"), params, values))
    outputs = {name: r.to_json() for name, r in refs.items()}
    store.write_manifest(key, outputs, {"workflow": step["workflow"], "step": step["step"], "index": index,
                                        "component": comp["name"], "started_at": started, "ended_at": time.time()})
    return {"key": key, "outputs": outputs}


def _refs(store: ArtifactStore, sources: list[dict[str, Any]], port_type: str, index: int) -> Ref | list[Ref]:
    """An input's references: one, or a list (``gather``, several sources, or a list-typed output)."""
    found: list[Ref] = []
    for src in sources:
        keys = [src["keys"][index]] if src["how"] == "each" else src["keys"]
        for key in keys:
            value = store.outputs(key)[src["output"]]
            found.extend(value if isinstance(value, list) else [value])
    if is_list(port_type):
        return found
    if len(found) != 1:
        raise StepError(f"input of type {port_type} got {len(found)} values")
    return found[0]


def _load(store: ArtifactStore, refs: Ref | list[Ref], work: str) -> Any:
    if isinstance(refs, list):
        return [store.load(r, work) for r in refs]
    return store.load(refs, work)


def _call(comp: dict[str, Any], pickled: str | None, params: dict[str, Any], values: dict[str, Any]) -> Any:
    if comp["kind"] == "kernel":
        from tessera.kernels import run_job

        if os.environ.get("TESSERA_VARIANT"):  # placement chose a variant: its GPUs decide the device
            params["device"] = "cuda:0" if os.environ.get("CUDA_VISIBLE_DEVICES") else "cpu"

        result = run_job(comp["target"], params)
        print(json.dumps(result), flush=True)
        return {"result": result}
    fn = _function(comp["target"], pickled)
    return fn(**values, **params)


def _function(target: str, pickled: str | None) -> Callable[..., Any]:
    if pickled:
        import cloudpickle

        fn: Any = cloudpickle.loads(base64.b64decode(pickled))
        return fn  # type: ignore[no-any-return]
    module, _, name = target.partition(":")
    obj: Any = importlib.import_module(module)
    for part in name.split("."):
        obj = getattr(obj, part)
    return obj  # type: ignore[no-any-return]


def _store_values(store: ArtifactStore, outputs: dict[str, str], value: Any) -> dict[str, Ref]:
    """Store a Python component's return value: the one output, or a dict of every output."""
    if len(outputs) == 1 and not (isinstance(value, dict) and set(value) == set(outputs)):
        value = {next(iter(outputs)): value}
    if not isinstance(value, dict) or set(value) != set(outputs):
        got = sorted(value) if isinstance(value, dict) else type(value).__name__
        raise StepError(f"the component must return a dict with keys {sorted(outputs)}, got {got}")
    refs = {}
    for name, port_type in outputs.items():
        try:
            refs[name] = _put(store, value[name], port_type)
        except (TypeError, ValueError) as exc:
            raise StepError(f"output {name!r} ({port_type}): {exc}") from None
    return refs


def _put(store: ArtifactStore, value: Any, port_type: str) -> Ref:
    if is_list(port_type):
        raise TypeError("list outputs are not supported; return an array or JSON instead")
    if port_type == "array" and not isinstance(value, np.ndarray | list | tuple | int | float):
        raise TypeError(f"expected an array, got {type(value).__name__}")
    return store.put_value(value, port_type)


# --------------------------------------------------------------------------- commands and images

_SUFFIX = {"array": ".npy", "json": ".json", "file": ""}


def _run_argv(store: ArtifactStore, comp: dict[str, Any], params: dict[str, Any],
              inputs: dict[str, Ref | list[Ref]], work: str) -> dict[str, Ref]:
    from tessera.workflows.components import render_argv

    container = comp["kind"] == "container"
    in_paths = {port: _materialize(store, refs, Path(work) / "in" / port, copy=container)
                for port, refs in inputs.items()}
    out_dir = Path(work) / "out"
    out_dir.mkdir()
    out_paths = {name: str(out_dir / f"{name}{_SUFFIX[element_type(t)]}") for name, t in comp["outputs"].items()}
    argv = render_argv(comp["argv"], params, {"inputs": in_paths, "outputs": out_paths})
    if container:
        from tessera.workflows.containers import find_engine, wrap

        argv = wrap(find_engine(), comp["target"], work, argv, os.environ.get("CUDA_VISIBLE_DEVICES") or None)
    done = subprocess.run(argv, cwd=work)  # stdout and stderr go to the job's log files
    if done.returncode != 0:
        raise StepError(f"{comp['name']}: {argv[0]} exited with code {done.returncode}; see the job's logs")
    refs = {}
    for name, port_type in comp["outputs"].items():
        path = _written(out_paths[name])
        if path is None:
            raise StepError(f"{comp['name']}: the command did not write output {name!r} at {out_paths[name]}")
        if port_type == "array":
            np.load(path, mmap_mode="r", allow_pickle=False)  # refuse a file that is not .npy
            refs[name] = store.put_file(path, "array")
        elif port_type == "json":
            refs[name] = store.put_value(json.loads(Path(path).read_text()), "json")
        else:
            refs[name] = store.put_file(path, "file")
    return refs


def _written(path: str) -> str | None:
    """The output file at ``path``, or the one file ``path.EXT`` (``{outputs.png}.png`` in a template)."""
    if os.path.isfile(path):
        return path
    found = [str(p) for p in Path(path).parent.glob(Path(path).name + ".*") if p.is_file()]
    return found[0] if len(found) == 1 else None


def _materialize(store: ArtifactStore, refs: Ref | list[Ref], dest: Path, copy: bool) -> str:
    """Put an input where a command can read it: a file, or a directory of numbered files for a list."""
    if isinstance(refs, list):
        dest.mkdir(parents=True)
        for i, r in enumerate(refs):
            _one_file(store, r, dest / f"{i:05d}{r.suffix}", copy)
        return str(dest)
    target = dest.with_name(dest.name + refs.suffix)
    target.parent.mkdir(parents=True, exist_ok=True)
    _one_file(store, refs, target, copy)
    return str(target)


def _one_file(store: ArtifactStore, ref: Ref, target: Path, copy: bool) -> None:
    source = store.local_path(ref, str(target.parent))
    if copy or not store.local:
        shutil.copyfile(source, target)
    else:
        target.symlink_to(source)


@contextlib.contextmanager
def _workdir() -> Iterator[str]:
    """An empty directory for the step (its working directory), emptied afterwards.

    Each worker process keeps one and reuses it: steps in one worker run one at a time, and
    creating and removing a directory per step costs more than many small steps do.
    """
    work = Path(tempfile.gettempdir()) / f"tessera-steps-{os.getuid()}" / str(os.getpid())
    work.mkdir(parents=True, exist_ok=True)
    _empty(work)
    old = os.getcwd()
    os.chdir(work)
    try:
        yield str(work)
    finally:
        os.chdir(old)
        _empty(work)


def _empty(directory: Path) -> None:
    with os.scandir(directory) as entries:
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path, ignore_errors=True)
            else:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry.path)
