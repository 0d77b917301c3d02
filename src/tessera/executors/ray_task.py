"""The body of one tessera attempt inside a Ray task: a command or a Python job, on whatever node Ray chose.

``RayExecutor`` wraps ``runner(...)`` with ``ray.remote`` (one attempt per task, or a chunk of a
coalesced array's elements run one after the other, each with its own outcome) (it calls ``run_attempt`` by reference:
Ray workers import this module, which imports neither the store nor the scheduler). Python jobs run through the same code
as the local warm workers (``worker.run_one``), so both executors give the same environment, log
files (through the worker's spool, ``executors.spool``) and result encoding. Commands run in their own session; a Ray cancel (KeyboardInterrupt in
the task) sends SIGTERM to the command's group, waits the grace period, then SIGKILL; if the Ray
worker itself dies, the kernel kills the command (``PR_SET_PDEATHSIG``).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

from tessera.executors import procs
from tessera.executors.worker import run_one

LOG_CAP = 1 << 20  # bytes of each log shipped back from a node that is not the controller's
_PR_SET_PDEATHSIG = 1
_paths_seen: set[tuple[str, ...]] = set()
_HOST = socket.gethostname()
_NODE: str | None = None


def runner(sys_path: tuple[str, ...], controller_host: str, kill_grace_s: float) -> Callable[..., Any]:
    """The function ``RayExecutor`` hands to ``ray.remote``: ``run_attempt`` with what every attempt
    of one controller shares bound to it (Ray exports the function, and so these, once)."""

    def run(msg: dict[str, Any] | list[dict[str, Any]], array_payload: bytes | list[Any] | None = None) -> Any:
        array_payload = shared_payload(array_payload)
        if isinstance(msg, list):  # a chunk of a coalesced array: its elements one after the other
            return [run_attempt(m, array_payload, sys_path, controller_host, kill_grace_s) for m in msg]
        return run_attempt(msg, array_payload, sys_path, controller_host, kill_grace_s)

    run.__name__ = run.__qualname__ = "tessera_attempt"
    return run


_shared: tuple[str, bytes] | None = None  # the large array payload this Ray worker fetched last, by object id


def shared_payload(arg: bytes | list[Any] | None) -> bytes | None:
    """An array's payload as a task receives it: the bytes themselves (small ones), or ``[ObjectRef]``
    for a large one, which Ray would otherwise fetch and copy for every task. Fetched once per worker
    and array; every element then gets the same object (``worker._call`` caches by identity)."""
    global _shared
    if not isinstance(arg, list):
        return arg
    ref = arg[0]
    key = ref.hex()
    if _shared is None or _shared[0] != key:
        import ray

        _shared = None  # drop the previous array's payload before fetching the next
        _shared = (key, ray.get(ref))
    return _shared[1]


def run_attempt(msg: dict[str, Any], array_payload: bytes | None = None, sys_path: tuple[str, ...] = (),
                controller_host: str = "", kill_grace_s: float = 5.0) -> tuple[dict[str, Any], bytes | None, Any]:
    """Run one attempt; returns its header (the local worker's format), its result bytes and, when
    this node is not the controller's host, the tails of its logs for the controller to write
    (else None). An array's shared payload comes apart from ``msg``."""
    _extend_path(sys_path)
    import ray

    gpu_ids = [str(g) for g in ray.get_gpu_ids()] if msg.get("gpus") else []  # Ray's call costs as much as a tiny job
    env = dict(msg["env"])
    env["CUDA_VISIBLE_DEVICES"] = ",".join(gpu_ids)
    env["TESSERA_NODE"] = _HOST
    msg = {**msg, "env": env, "array_payload": array_payload, "kill_grace_s": kill_grace_s}
    here = controller_host == _HOST
    if not here:
        for key in ("stdout_path", "stderr_path"):
            os.makedirs(os.path.dirname(msg[key]), exist_ok=True)
    if msg["kind"] == "command":
        header, data = _command(msg)
    else:
        header, data = run_one(msg)
    header.setdefault("usage", {})["gpu_ids"] = gpu_ids
    header["node"] = _node_id()
    return header, data, None if here else {k: _tail(msg[k]) for k in ("stdout_path", "stderr_path")}


def _node_id() -> str:
    """This worker's Ray node (a worker never moves, so it is asked once)."""
    global _NODE
    if _NODE is None:
        import ray

        _NODE = ray.get_runtime_context().get_node_id()
    return _NODE


def _command(msg: dict[str, Any]) -> tuple[dict[str, Any], bytes | None]:
    """Run a command to its end; a cancel kills its whole group (SIGTERM, grace, SIGKILL)."""
    env = {**os.environ, **msg["env"]}
    os.makedirs(msg["scratch_dir"], exist_ok=True)
    limit = procs.limit_memory(msg.get("memory_mb"))

    def _pre() -> None:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        if limit is not None:
            limit()

    ran_at = time.time()
    header: dict[str, Any] = {"attempt_id": msg["attempt_id"], "ran_at": ran_at}
    try:
        with open(msg["stdout_path"], "ab") as out, open(msg["stderr_path"], "ab") as err:
            proc = subprocess.Popen(  # noqa: S603 - an argument list, never a shell string
                list(msg["command"]), stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                cwd=msg.get("cwd") or None, env=env, start_new_session=True, close_fds=True, preexec_fn=_pre)
    except OSError as e:
        header.update(status="failed", reason="launch_failed", exit_code=127, exc_type=f"{type(e).__name__}: {e}",
                      ended_at=time.time(), usage={})
        return header, None
    try:
        code = _wait(proc)
    except BaseException:  # a Ray cancel arrives as KeyboardInterrupt: end the command's whole group
        _stop(proc, float(msg.get("kill_grace_s", 5.0)), msg["env"].get(procs.MARKER, ""), ran_at)
        raise
    procs.reap(proc.pid, msg["env"].get(procs.MARKER, ""), ran_at)
    header["ended_at"] = time.time()
    header["exit_code"] = code
    header["usage"] = {"wall_s": round(header["ended_at"] - ran_at, 6)}
    if code == 0:
        header["status"] = "succeeded"
    elif code < 0:
        header.update(status="failed", reason="signal", exc_type=f"killed by {signal.Signals(-code).name}",
                      exit_code=128 - code)
    else:
        oom = bool(msg.get("memory_mb")) and procs.looks_oom(msg["stderr_path"])
        header.update(status="failed", reason="oom" if oom else "exit_code",
                      exc_type=f"exit code {code}" + (" after failing to allocate memory" if oom else ""))
    return header, None


def _wait(proc: subprocess.Popen[bytes]) -> int:
    """Wait in short slices, so that the KeyboardInterrupt of a Ray cancel is not held up in waitpid."""
    while True:
        try:
            return proc.wait(0.2)
        except subprocess.TimeoutExpired:
            continue


def _stop(proc: subprocess.Popen[bytes], grace_s: float, marker: str, since: float) -> None:
    procs.kill_group(proc.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(grace_s)
    procs.reap(proc.pid, marker, since)
    proc.wait()


def _extend_path(paths: tuple[str, ...]) -> None:
    """Put the controller's import path on this worker's (entries that exist on this node)."""
    if paths in _paths_seen:
        return
    _paths_seen.add(paths)
    sys.path.extend(p for p in paths if p and p not in sys.path and os.path.exists(p))


def _tail(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - LOG_CAP))
            return f.read()
    except OSError:
        return b""
