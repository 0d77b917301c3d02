"""The Python SDK: ``Client`` submits functions and commands, ``JobHandle`` follows one job.

A client runs the controller inside its own process (embedded) unless a background controller
already serves this ``TESSERA_HOME``, in which case it writes to the store and pokes that one.
"""

from __future__ import annotations

import contextlib
import json
import pickle
import socket
import threading
import time
import types
import weakref
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import cloudpickle

from tessera.config import Settings
from tessera.controller import daemon
from tessera.controller.core import HELD_RESULT_MAX, Controller
from tessera.controller.notices import Notices, Watcher
from tessera.errors import JobFailedError, NotFoundError, TesseraError, WaitTimeoutError
from tessera.executors.hardware import detect
from tessera.jobfile import to_spec
from tessera.models.job import Job
from tessera.models.spec import _NAME, ArraySpec, JobSpec
from tessera.models.states import TERMINAL, JobState
from tessera.remote import RemoteStore, connect
from tessera.store import Candidate, Finished, Store
from tessera.submit import submit as submit_specs


def decode(encoding: str | None, data: bytes | None) -> Any:
    """A committed result's value: JSON as written, or unpickled here, in the caller's process."""
    if data is None:
        return None
    return json.loads(data) if encoding == "json" else cloudpickle.loads(data)


class RemoteTraceback(Exception):  # noqa: N818 - mirrors concurrent.futures
    """The traceback of an exception raised inside a job, attached as ``__cause__``."""

    def __init__(self, tb: str) -> None:
        super().__init__(tb)
        self.tb = tb

    def __str__(self) -> str:
        return f'\n"""\n{self.tb.rstrip()}\n"""'


class _Waiter:
    """Where the embedded controller leaves a job's end for its handle: a flag, the committed
    outcome when it is small, and an event made only if someone waits before the end. Held by the
    handle; the client keeps it only while the handle lives. Guarded by the client's lock."""

    __slots__ = ("__weakref__", "_event", "ended", "finished", "told")

    def __init__(self) -> None:
        self._event: threading.Event | None = None
        self.ended = False
        self.finished: Finished | None = None
        self.told = False  # registered before the embedded controller could end the job: it will be told

    def end(self, finished: Finished | None) -> None:
        self.finished, self.ended = finished, True
        if self._event is not None:
            self._event.set()

    def wait(self, lock: threading.Lock, timeout: float) -> None:
        with lock:
            if self.ended:
                return
            if self._event is None:
                self._event = threading.Event()
            event = self._event
        event.wait(timeout)


class JobHandle:
    """A submitted job. ``result()`` waits and returns its value or raises its exception."""

    def __init__(self, client: Client, job_id: int, ref: str) -> None:
        self._client = client
        self.id = job_id
        self.ref = ref
        self._waiter = client._waiter(job_id)

    def __repr__(self) -> str:
        return f"<JobHandle {self.ref} {self.state}>"

    @property
    def job(self) -> Job:
        return self._client.store.job(self.ref)

    @property
    def state(self) -> JobState:
        return self.job.state

    def wait(self, timeout: float | None = None) -> Job:
        return self._client.wait([self], timeout)[0]

    def result(self, timeout: float | None = None) -> Any:
        got = self._client._await(self.id, self.ref, timeout, self._waiter)
        if got[0] is JobState.SUCCEEDED:
            _state, enc, data, _err = got
            return decode(enc, data)
        return self._client._value(self.job)

    def cancel(self) -> None:
        self._client.cancel([self])

    def logs(self, stream: str = "stdout") -> str:
        if isinstance(self._client.store, RemoteStore):
            return self._client.store.log_text(self.ref, stream)
        attempts = self._client.store.attempts(self.id)
        if not attempts:
            return ""
        last = attempts[-1]
        path = last.stdout_path if stream == "stdout" else last.stderr_path
        path = path or self._client.settings.log_path(self.job, last.number, stream)
        try:
            with open(path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""


class Client:
    """Submit work from Python. Use as a context manager so the embedded controller stops cleanly."""

    def __init__(self, embedded: bool | None = None, **settings: Any) -> None:
        self.settings = Settings.load(**settings)
        remote = connect(self.settings)  # TESSERA_URL: a server holds the store and runs the controller
        self.store = remote or Store(self.settings.db_url)
        self.total = remote.capacity() if remote else detect(self.settings)
        embedded = False if remote else embedded
        self._waiters: weakref.WeakValueDictionary[int, _Waiter] = weakref.WeakValueDictionary()
        self._lock = threading.Lock()
        self._templates: dict[tuple[Any, ...], tuple[JobSpec, str | None]] = {}  # see _template
        self._controller: Controller | None = None
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None
        self._stop = threading.Event()
        self._lock_cm: Any = None
        self._notices: Notices | None = None
        self._poker: socket.socket | None = None  # see _poke_other
        self._watcher: Watcher | None = None  # told of ends by a controller in another process
        if embedded is None:
            embedded = daemon.running_pid(self.settings) is None
        if embedded:
            self._start_embedded()
        if self._controller is None and isinstance(self.store, Store):
            # a controller in another process here (not a server): a Ray one's cluster; it tells
            # this client which jobs ended (``controller.notices``)
            from tessera.executors.factory import submit_capacity

            self.total = submit_capacity(self.settings, self.store)
            self._watcher = Watcher(self._noticed)

    # ------------------------------------------------------------------ lifecycle

    def _start_embedded(self) -> None:
        from tessera.autoscale.apply import attach as attach_autoscaler
        from tessera.executors.factory import build

        cm = daemon.hold_lock(self.settings)
        if not cm.__enter__():
            cm.__exit__(None, None, None)
            return  # a background controller took the home meanwhile: work through it
        self._lock_cm = cm
        try:
            executor = build(self.settings, self.total)
        except BaseException:
            cm.__exit__(None, None, None)
            raise
        self.total = executor.capacity()  # what submit checks jobs against: a Ray cluster's, for Ray
        self._controller = Controller(self.settings, self.store, executor)
        notices = self._notices = Notices()  # for clients in other processes
        ended = self._ended

        def on_terminal(job_ids: list[int], finished: dict[int, Finished]) -> None:
            ended(job_ids, finished)
            if notices.watchers:
                notices.send(job_ids)

        self._controller.on_terminal = on_terminal
        attach_autoscaler(self._controller)
        self._thread = threading.Thread(target=self._loop, name="tessera-controller", daemon=True)
        self._thread.start()
        # other processes (the CLI, other clients) submit to the store and poke this home's socket
        self._sock = daemon.listen(self.settings.socket_path, self._controller.poke, self._stop,
                                   on_watch=notices.watch)

    def _loop(self) -> None:
        assert self._controller is not None
        while not self._stop.is_set():
            self._controller.step(0.5)

    def close(self) -> None:
        if self._controller is not None and self._thread is not None:
            self._stop.set()
            self._controller.executor.wake()
            self._thread.join()
            if self._sock is not None:
                self._sock.close()
                self._sock = None
                with contextlib.suppress(FileNotFoundError):
                    self.settings.socket_path.unlink()
            self._controller.close()
            self._controller = None
            if self._notices is not None:
                self._notices.close()
        if self._watcher is not None:
            self._watcher.close()
            self._watcher = None
        if self._poker is not None:
            self._poker.close()
            self._poker = None
        if self._lock_cm is not None:
            self._lock_cm.__exit__(None, None, None)
            self._lock_cm = None
        self.store.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def embedded(self) -> bool:
        return self._controller is not None

    # ------------------------------------------------------------------ submit

    def submit(self, fn: Callable[..., Any], *args: Any, **options: Any) -> JobHandle:
        """Run ``fn(*args, **kwargs)`` as a job. Options: name, cpus, memory_mb, gpus, timeout_s,
        retries, queue, priority, project, tags, env, cwd, dependency, kwargs."""
        kwargs = options.pop("kwargs", {})
        payload = dumps_call(fn, args, kwargs)
        template, text = self._template(fn, options)
        return self._handles([template.model_copy(update={"payload": payload})], [text])[0]

    def _template(self, fn: Callable[..., Any], options: dict[str, Any]) -> tuple[JobSpec, str | None]:
        """The validated spec for these options, with an empty payload, and its stored JSON: made once
        per function name and set of options (validation and JSON cost more than the rest of a submit)."""
        try:
            key: tuple[Any, ...] | None = (getattr(fn, "__name__", None), *options.items())
            hash(key)
        except TypeError:  # an unhashable option (a list, a dict): validate it every time
            key = None
        got = self._templates.get(key) if key is not None else None
        if got is None:
            options.setdefault("name", _default_name(fn))
            spec = to_spec({**options, "payload": b""}, "submit")
            got = (spec, spec.model_dump_json(exclude={"payload"}))
            if key is not None:
                if len(self._templates) >= 256:
                    self._templates.clear()
                self._templates[key] = got
        return got

    def submit_spec(self, spec: JobSpec | dict[str, Any]) -> JobHandle:
        """Submit a job described as a spec (a command, a ``module:function`` or a kernel)."""
        if isinstance(spec, dict):
            spec = to_spec(spec)
        return self._handles([spec])[0]

    def map(self, fn: Callable[..., Any], items: Iterable[Any], timeout: float | None = None,
            **options: Any) -> list[Any]:
        """Run ``fn(item)`` for every item as one array job; results in order, like ``Executor.map``."""
        handle = self.map_async(fn, items, **options)
        return self.array_results(handle, timeout)

    def map_async(self, fn: Callable[..., Any], items: Iterable[Any], **options: Any) -> JobHandle:
        values = list(items)
        if not values:
            raise TesseraError("map needs at least one item", "pass a non-empty iterable")
        payload = cloudpickle.dumps({"fn": fn, "args": (), "kwargs": options.pop("kwargs", {})})
        options.setdefault("name", _default_name(fn))
        cap = options.pop("max_running", None)
        spec = to_spec({**options, "payload": payload}, "map").model_copy(
            update={"array": ArraySpec.of_size(len(values), cap)})
        elements = tuple(cloudpickle.dumps(v) for v in values)
        job_id = submit_specs(self.store, [spec], self.total, element_payloads={0: elements})[0]
        self._poke()
        return JobHandle(self, job_id, str(job_id))

    def array_results(self, handle: JobHandle, timeout: float | None = None) -> list[Any]:
        """Wait for an array and return its elements' values in index order (raising the first error)."""
        self.wait([handle], timeout)
        out = []
        for _jid, index, state, enc, data, _err in self.store.array_results(handle.id):
            if state == JobState.SUCCEEDED.value:
                out.append(decode(enc, data))
            else:
                out.append(self._value(self.store.job(f"{handle.id}_{index}")))
        return out

    def _handles(self, specs: Sequence[JobSpec], spec_json: Sequence[str | None] | None = None) -> list[JobHandle]:
        accepted: list[Candidate] = []
        ctl = self._controller
        if ctl is None:
            ids = submit_specs(self.store, specs, self.total, spec_json=spec_json)
            handles = [JobHandle(self, i, str(i)) for i in ids]  # waiting before the controller can end them
            self._poke(deps=any(s.dependencies for s in specs), cancels=False)
            return handles
        final: list[JobSpec] = []  # the specs as stored: placement and budgets may rewrite them
        if len(specs) == 1 and not specs[0].dependencies and specs[0].array is None:
            # an idle embedded controller claims it in the submit transaction (one transaction less)
            with ctl.admitting(specs[0]) as admit:
                ids = submit_specs(self.store, specs, self.total, accepted=accepted, admit=admit, final=final,
                                   spec_json=spec_json)
                handles = self._told(ids, accepted)  # before the controller can end them
            if admit is not None and ids[0] in admit.claimed:
                return handles
        else:
            ids = submit_specs(self.store, specs, self.total, accepted=accepted, final=final, spec_json=spec_json)
            handles = self._told(ids, accepted)
        if len(accepted) == len(specs):
            by_id = dict(zip(ids, final, strict=True))
            ctl.offer([(c, by_id[c.id]) for c in accepted])  # no read back, no full look
        else:
            self._poke(deps=any(s.dependencies for s in specs), cancels=False)
        return handles

    def _told(self, ids: list[int], accepted: list[Candidate]) -> list[JobHandle]:
        handles = [JobHandle(self, i, str(i)) for i in ids]
        if len(accepted) == len(ids):
            for h in handles:
                h._waiter.told = True  # this process's controller alone can end them, and tells us
        return handles

    def _poke(self, deps: bool = True, cancels: bool = True) -> None:
        if isinstance(self.store, RemoteStore):
            return  # the server pokes its controller itself
        if self._controller is not None:
            self._controller.poke(deps, cancels)
        else:
            self._poke_other(deps, cancels)

    def _poke_other(self, deps: bool, cancels: bool) -> None:
        """Poke the controller of another process through one kept socket: the first poke makes sure
        one runs (``daemon.ensure_running``), and so does a poke that finds none listening (it
        stopped or died), not every one (checking costs more than a small submit)."""
        msg = daemon.poke_message(self._watcher.address if self._watcher is not None else None, deps, cancels)
        path = str(self.settings.socket_path)
        for attempt in range(2):
            if self._poker is None or attempt:
                daemon.ensure_running(self.settings)
            if self._poker is None:
                self._poker = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                self._poker.setblocking(False)
            try:
                self._poker.sendto(msg, path)
                return
            except (ConnectionRefusedError, FileNotFoundError):
                continue  # no controller listens: start one, then poke again
            except OSError:
                return  # its queue is full: it is busy, and looks at the store anyway

    # ------------------------------------------------------------------ wait and results

    def _waiter(self, job_id: int) -> _Waiter:
        with self._lock:
            w = self._waiters.get(job_id)
            if w is None:
                w = self._waiters[job_id] = _Waiter()
            return w

    def _noticed(self, job_ids: list[int]) -> None:
        """A controller in another process says these jobs ended: the outcomes of those someone holds
        a handle to are read in one go and handed to their waiters (large results are read by the
        waiter itself, if it asks). A notice is only a hint: what the store says is what counts."""
        with self._lock:
            wanted = [j for j in job_ids if j in self._waiters]
        try:
            got = self.store.outcomes(wanted, HELD_RESULT_MAX) if wanted else {}
        except TesseraError:
            got = {}  # the waiters read it themselves
        with self._lock:
            for j in wanted:
                w = self._waiters.get(j)
                if w is not None:
                    w.end(got.get(j))

    def _ended(self, job_ids: list[int], finished: dict[int, Finished]) -> None:
        """Called by the embedded controller after it committed these jobs' ends."""
        with self._lock:
            for j in job_ids:
                w = self._waiters.get(j)
                if w is not None:
                    w.end(finished.get(j))

    def wait(self, handles: Sequence[JobHandle], timeout: float | None = None) -> list[Job]:
        """Wait until every job is terminal; returns their final records."""
        deadline = None if timeout is None else time.monotonic() + timeout
        for h in handles:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            self._await(h.id, h.ref, left, h._waiter)
        return [h.job for h in handles]

    def _await(self, job_id: int, ref: str, timeout: float | None, waiter: _Waiter | None = None) -> Finished:
        """Block until the job is terminal; woken by the embedded controller (which hands small
        results over in memory), else by polling the store. Returns (state, encoding, data, error)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        w = waiter if waiter is not None else self._waiter(job_id)
        if w.told and self._controller is not None:  # no need to look before the controller says so
            w.wait(self._lock, 1.0 if timeout is None else min(1.0, timeout))
        while True:
            if w.finished is not None:
                return w.finished
            got = self.store.finished(job_id)
            if got is None:
                raise NotFoundError(f"no job {ref}", "list jobs with `tessera ls`")
            state = got[0]
            if state in TERMINAL:
                return got
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise WaitTimeoutError(
                    f"job {ref} is still {state} after {timeout:g} s",
                    f"wait longer, or see why with `tessera explain {ref}`",
                )
            step = 0.05 if self._controller is None else 1.0
            w.wait(self._lock, step if left is None else min(left, step))

    def _decode(self, job_id: int) -> Any:
        res = self.store.result(job_id)
        if res is None:
            return None
        enc, data, _err = res
        return decode(enc, data)

    def _value(self, job: Job) -> Any:
        if job.state is JobState.SUCCEEDED:
            return self._decode(job.id)
        res = self.store.result(job.id)
        if res is not None and res[0] == "exception" and res[1] is not None:
            exc = cloudpickle.loads(res[1])
            raise exc from RemoteTraceback(res[2] or "")
        raise JobFailedError(job.ref, job.state.value, job.reason.value if job.reason else None,
                             res[2] if res else None)

    def cancel(self, handles: Sequence[JobHandle]) -> int:
        n = self.store.request_cancel([h.id for h in handles])
        self._poke()
        return n


_PLAIN = frozenset({int, float, str, bytes, bool, type(None)})


def _plain(value: Any, depth: int = 0) -> bool:
    """Whether plain ``pickle`` writes this value as cloudpickle would: builtin scalars, and
    small tuples, lists and string-keyed dicts of them."""
    if type(value) in _PLAIN:  # exactly these: a subclass may live where the worker cannot import it
        return True
    if depth > 3 or type(value) not in (tuple, list, dict) or len(value) > 64:
        return False
    if type(value) is dict:
        return all(type(k) is str and _plain(v, depth + 1) for k, v in value.items())
    return all(_plain(v, depth + 1) for v in value)


def dumps_call(fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> bytes:
    """A call as a job's payload. A function importable by name with plain arguments goes through
    ``pickle`` (four times faster); anything else (a lambda, a closure, a function of ``__main__``,
    objects) through cloudpickle, which pickles by value what the worker could not import."""
    call = {"fn": fn, "args": args, "kwargs": kwargs}
    if type(fn) is not types.FunctionType or ((args or kwargs) and not (_plain(args) and _plain(kwargs))):
        return cloudpickle.dumps(call)
    if fn not in _BY_REF:
        try:
            by_ref = _by_reference(fn)
        except Exception:  # noqa: BLE001 - when in doubt, pickle by value
            by_ref = False
        if not by_ref:
            return cloudpickle.dumps(call)
        if len(_BY_REF) < 4096:
            _BY_REF.add(fn)  # a function importable by name: it lives as long as its module anyway
    return pickle.dumps(call, protocol=pickle.HIGHEST_PROTOCOL)


_BY_REF: set[Callable[..., Any]] = set()  # functions known to pickle by reference


def _by_reference(fn: Callable[..., Any]) -> bool:
    """Whether cloudpickle would pickle ``fn`` by reference (importable by name, its module not
    registered with ``cloudpickle.register_pickle_by_value``). cloudpickle answers this only through
    a private function: if a release drops it, every call goes through cloudpickle, which is right,
    only slower."""
    decide = getattr(getattr(cloudpickle, "cloudpickle", None), "_should_pickle_by_reference", None)
    return bool(decide(fn)) if decide is not None else False


def _default_name(fn: Callable[..., Any]) -> str | None:
    """The function's name when it is a valid job name (a lambda's ``<lambda>`` is not)."""
    name = getattr(fn, "__name__", None)
    if not isinstance(name, str):
        return None
    name = name.strip("<>")[:128]
    return name if _NAME.match(name) else None
