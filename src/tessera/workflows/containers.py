"""Container engines: find docker, podman or apptainer, check that it answers, and wrap a command in it.

``TESSERA_CONTAINER_ENGINE`` (``docker``, ``podman``, ``apptainer`` or a path) picks one; otherwise
the first of them on ``PATH`` whose engine answers is used. A docker client with no reachable
daemon does not count: submitting a workflow with a container step then fails with a message
that says so and how to fix it, before anything is stored.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass

from tessera.errors import InfeasibleError

ENGINES = ("docker", "podman", "apptainer")
_PROBES = {
    "docker": ["version", "--format", "{{.Server.Version}}"],
    "podman": ["info", "--format", "{{.Host.Arch}}"],
    "apptainer": ["--version"],
}


@dataclass(frozen=True)
class Engine:
    """A container engine that answered: its family (``docker``, ``podman``, ``apptainer``) and path."""

    family: str
    path: str


def find_engine() -> Engine:
    """The engine to run container steps with.

    Raises:
        InfeasibleError: no engine is installed, or none answers; the message says which were tried.
    """
    wanted = os.environ.get("TESSERA_CONTAINER_ENGINE", "").strip()
    candidates = [wanted] if wanted else list(ENGINES)
    tried = []
    for name in candidates:
        path = shutil.which(name)
        if path is None:
            continue
        family = _family(path)
        if family is None:
            raise InfeasibleError(
                f"TESSERA_CONTAINER_ENGINE={wanted!r} is not docker, podman or apptainer",
                "set TESSERA_CONTAINER_ENGINE to docker, podman or apptainer (or unset it)",
            )
        problem = _probe(family, path)
        if problem is None:
            return Engine(family, path)
        tried.append(f"{name} ({problem})")
    if not tried:
        looked = wanted or ", ".join(ENGINES)
        raise InfeasibleError(
            f"container steps need docker, podman or apptainer, and none is installed here (looked for {looked})",
            "install one of them, or use a command component instead of an image",
        )
    raise InfeasibleError(
        "container steps need a working container engine, but none answers: " + "; ".join(tried),
        "start the engine (e.g. `sudo systemctl start docker`, or check DOCKER_HOST), "
        "or set TESSERA_CONTAINER_ENGINE to one that works here",
    )


def _family(path: str) -> str | None:
    base = os.path.basename(path)
    for family in ENGINES:
        if base == family or base.startswith(family):
            return family
    return None


@functools.lru_cache(maxsize=8)
def _probe(family: str, path: str) -> str | None:
    """``None`` if the engine answers, else the first line of what it said."""
    try:
        done = subprocess.run([path, *_PROBES[family]], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return str(exc)
    if done.returncode == 0 and done.stdout.strip():
        return None
    said = (done.stderr or done.stdout).strip().splitlines()
    detail = next((line for line in said if "daemon" in line.lower() or "error" in line.lower()), None)
    return (detail or (said[0] if said else f"exit code {done.returncode}"))[:200]


def wrap(engine: Engine, image: str, workdir: str, argv: Sequence[str], gpus: str | None = None) -> list[str]:
    """The command line that runs ``argv`` in ``image`` with ``workdir`` mounted at the same path.

    Args:
        engine: from ``find_engine``.
        image: the image reference (``python:3.12-slim``, ``docker://...`` for apptainer).
        workdir: the step's directory (inputs and outputs live there); mounted read-write.
        argv: the rendered command.
        gpus: the attempt's ``CUDA_VISIBLE_DEVICES``, when it holds GPUs.
    """
    if engine.family == "apptainer":
        out = [engine.path, "exec", "--bind", f"{workdir}:{workdir}", "--pwd", workdir]
        if gpus:
            out.append("--nv")
        return [*out, image, *argv]
    out = [engine.path, "run", "--rm", "-v", f"{workdir}:{workdir}", "-w", workdir,
           "--user", f"{os.getuid()}:{os.getgid()}"]
    if gpus:
        if engine.family == "docker":
            out += ["--gpus", f'"device={gpus}"']
        else:
            out += [arg for g in gpus.split(",") for arg in ("--device", f"nvidia.com/gpu={g}")]
    return [*out, image, *argv]
