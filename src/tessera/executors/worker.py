"""The warm worker process: receives attempts over a socket, runs Python functions, sends outcomes.

Messages from the controller are pickled by the controller, framed as ``multiprocessing`` frames
them (``executors.frames``). Replies are a JSON header followed by the result bytes, which the
controller stores without opening: the controller never unpickles anything a job produced.
"""

from __future__ import annotations

import collections
import contextlib
import importlib
import json
import os
import pickle
import select
import shutil
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from typing import Any

from tessera.executors import coalesce, frames
from tessera.executors.spool import Spools

# Names other modules own, not imported from them: a worker imports neither the runtime nor psutil
# (tests/unit/test_public_api.py checks that they agree, and what a worker imports)
CHECKPOINT_DIR = "TESSERA_CHECKPOINT_DIR"  # runtime.context.ENV_CHECKPOINT_DIR
MARKER = "TESSERA_ATTEMPT_KEY"  # procs.MARKER

_fn_cache: dict[int, Any] = {}


def main(fd: int, env: dict[str, str]) -> None:
    """Serve attempts in the order they arrive until the controller closes the socket ``fd``.

    The controller may queue several attempts ahead (pipelining); before each one the worker
    takes whatever has arrived, so that a ``skip`` for a queued attempt lands before it would
    start. Frames are read in batches (one ``read`` for all that has arrived, ``executors.frames``).
    """
    os.setsid()  # own process group: a timeout kills the worker and everything it started
    os.environ.update(env)
    inbox: collections.deque[dict[str, Any]] = collections.deque()
    skipped: set[int] = set()
    held = coalesce.Held()  # replies of coalesced elements, sent together (``placement.coalesce``)
    reader = frames.FrameReader()
    ready = select.poll()  # one poller for the worker's life (``Connection.poll`` builds one per call)
    ready.register(fd, select.POLLIN)
    while True:
        try:
            idle = not inbox and not reader.has_frame()
            if idle:
                held.send(fd)
            if ready.poll(None if idle else 0) and not reader.fill(fd):  # idle: wait for the next message
                return  # the controller closed the socket
        except OSError:
            return
        while (raw := reader.next()) is not None:
            _take(raw, inbox, skipped)
        if not inbox:
            continue
        msg = inbox.popleft()
        if msg.get("op") == "stop":
            held.send(fd)
            return
        held.send_if_due(fd)  # no reply waits on a long element behind it
        if msg["attempt_id"] in skipped:
            skipped.discard(msg["attempt_id"])
            header, data = {"attempt_id": msg["attempt_id"], "status": "skipped", "has_data": False}, None
        else:
            header, data = _run(msg)
        reply = [json.dumps(header).encode()] if data is None else [json.dumps(header).encode(), data]
        if not held.keep(reply, msg, bool(inbox)):
            held.send(fd, reply)  # one write: held replies, then this header and result


def _take(raw: bytes, inbox: collections.deque[dict[str, Any]], skipped: set[int]) -> None:
    global _kept
    msg = pickle.loads(raw)
    if msg.get("op") == "skip":
        if any(m.get("attempt_id") == msg["attempt_id"] for m in inbox):
            skipped.add(msg["attempt_id"])
        return
    # The controller sends an array's payload once and then "the one you kept": resolved here, in
    # the order messages arrive (not when they run), so a queued or skipped element changes nothing.
    if msg.get("array_payload") is not None:
        _kept = msg["array_payload"]
    elif msg.get("array_kept"):
        msg["array_payload"] = _kept
    inbox.append(msg)


_kept: bytes | None = None  # the array payload the controller last sent


def _run(msg: dict[str, Any]) -> tuple[dict[str, Any], bytes | None]:
    ran_at = time.time()
    cpu0 = time.process_time()
    header: dict[str, Any] = {"attempt_id": msg["attempt_id"], "ran_at": ran_at}
    data: bytes | None = None
    try:
        with _attempt_env(msg):
            value = _call(msg)
        data, header["encoding"] = _encode(value)
        header["status"] = "succeeded"
    except MemoryError:
        header.update(status="failed", reason="oom", error=traceback.format_exc(limit=20))
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # noqa: BLE001 - the job's exception is its outcome
        header.update(status="failed", reason="exception", error=_format(exc), exc_type=type(exc).__name__)
        data, header["encoding"] = _exception(exc)
        if isinstance(exc, SystemExit):
            code = exc.code if isinstance(exc.code, int) else 1
            if code == 0:
                header.update(status="succeeded", reason=None, error=None)
                data, header["encoding"] = _encode(None)
            header["exit_code"] = code
    header["ended_at"] = time.time()
    header["usage"] = {"cpu_s": round(time.process_time() - cpu0, 6)}
    if header["status"] == "succeeded":
        scratch = msg["env"].get("TESSERA_SCRATCH_DIR")
        if scratch and os.path.isdir(scratch):
            shutil.rmtree(scratch, ignore_errors=True)  # as the controller does for commands that succeed
        ckpt = msg["env"].get(CHECKPOINT_DIR)
        if ckpt:  # told, so that the controller looks for checkpoints to drop only where there are some
            header["checkpoints"] = os.path.isdir(ckpt)
    header["has_data"] = data is not None
    return header, data


run_one = _run  # Ray tasks (``ray_task``) run Python jobs through this same code


def _call(msg: dict[str, Any]) -> Any:
    kind = msg["kind"]
    if kind == "function":
        module, _, name = msg["function"].partition(":")
        fn: Any = importlib.import_module(module)
        for part in name.split("."):
            fn = getattr(fn, part)
        return fn(*msg.get("args", ()), **msg.get("kwargs", {}))
    if kind == "kernel":
        from tessera.kernels import run_job

        result = run_job(msg["kernel"], dict(msg.get("params") or {}))
        print(json.dumps(result), flush=True)  # the job's output shows its time and throughput
        return result
    if kind == "pickle":
        import cloudpickle

        if msg.get("array_payload") is not None:
            key = msg["array_id"]
            cached = _fn_cache.get(key)
            # the payload is compared too: array ids repeat across stores sharing one Ray cluster
            # (it is the very object each time, kept in ``_take`` locally and in
            # ``ray_task.shared_payload`` on Ray: compared by identity, at no cost)
            body = cached[1] if cached is not None and cached[0] == msg["array_payload"] else None
            if body is None:
                body = cloudpickle.loads(msg["array_payload"])
                _fn_cache.clear()
                _fn_cache[key] = (msg["array_payload"], body)
            item = cloudpickle.loads(msg["payload"]) if msg.get("payload") is not None else msg["array_index"]
            return body["fn"](item, *body.get("args", ()), **body.get("kwargs", {}))
        body = cloudpickle.loads(msg["payload"])
        return body["fn"](*body.get("args", ()), **body.get("kwargs", {}))
    raise ValueError(f"worker cannot run jobs of kind {kind!r}")


def _encode(value: Any) -> tuple[bytes, str]:
    try:
        return json.dumps(value, allow_nan=True).encode(), "json"
    except (TypeError, ValueError):
        import cloudpickle

        return cloudpickle.dumps(value), "pickle"


def _exception(exc: BaseException) -> tuple[bytes | None, str | None]:
    """The exception itself, pickled for the caller to raise again; None if it cannot travel."""
    import cloudpickle

    try:
        exc.__traceback__ = None
        data = cloudpickle.dumps(exc)
        cloudpickle.loads(data)
        return data, "exception"
    except Exception:  # noqa: BLE001 - an unpicklable exception travels as its traceback text only
        return None, None


def _format(exc: BaseException) -> str:
    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__.tb_next if exc.__traceback__ else None))


@contextlib.contextmanager
def _attempt_env(msg: dict[str, Any]) -> Iterator[None]:
    """Give the function its environment, directory and log files; put the directory and the
    standard streams back afterwards. The environment is set as a whole before each attempt (the
    worker's own plus the attempt's), so whatever an earlier attempt changed is gone."""
    global _base_env, _stdio
    if _base_env is None:
        _base_env = _environ_snapshot()
        _stdio = os.dup(1), os.dup(2)
    assert _stdio is not None
    env = dict(_base_env)
    env.update({_name(k): v.encode(*_FS) for k, v in msg["env"].items()})
    env[_name(MARKER)] = (msg["env"].get(MARKER) or str(msg["attempt_id"])).encode(*_FS)
    _environ_apply(env)
    saved_cwd = os.getcwd()
    sys.stdout.flush()
    sys.stderr.flush()
    opened, closed = log_files
    out, err = opened(msg["stdout_path"]), opened(msg["stderr_path"])
    try:
        os.dup2(out, 1)
        os.dup2(err, 2)
        if msg.get("cwd"):
            os.chdir(msg["cwd"])
        yield
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os.dup2(_stdio[0], 1)
        os.dup2(_stdio[1], 2)
        closed(out, msg["stdout_path"])
        closed(err, msg["stderr_path"])
        os.chdir(saved_cwd)


_base_env: dict[bytes, bytes] | None = None  # the worker's environment, before any attempt
_stdio: tuple[int, int] | None = None  # the worker's own stdout and stderr
_FS = (sys.getfilesystemencoding(), sys.getfilesystemencodeerrors())  # what os.fsencode uses
_names: dict[str, bytes] = {}  # variable names as bytes: the same few names every attempt


def _name(key: str) -> bytes:
    out = _names.get(key)
    if out is None:
        out = _names[key] = key.encode(*_FS)
        if len(_names) > 4096:  # names are few; a job inventing new ones each time does not grow this
            _names.clear()
    return out


# How attempts' log files are opened and closed, on local and Ray workers alike: through this
# worker's spool, so that an attempt that writes nothing leaves no file (``executors.spool``).
# A hook: tests put a spool of their own in.
_spools = Spools()
log_files: tuple[Callable[[str], int], Callable[[int, str], None]] = (_spools.open, _spools.close)


def _environ_snapshot() -> dict[bytes, bytes]:
    """The environment as bytes. CPython keeps it in ``os.environ._data`` (shared with
    ``os.environb``): copying that dict takes a microsecond, iterating the mapping fifty."""
    data = getattr(os.environ, "_data", None)
    return dict(data) if isinstance(data, dict) else dict(os.environb)


def _environ_apply(target: dict[bytes, bytes]) -> None:
    """Make the environment exactly ``target``, changing only the variables that differ (each
    change is a ``putenv``/``unsetenv``; clearing and refilling all of them costs more than a
    small job itself)."""
    current = _environ_snapshot()
    if current == target:
        return
    env = os.environb
    for key in current.keys() - target.keys():
        del env[key]
    for key, value in target.items():
        if current.get(key) != value:
            env[key] = value
