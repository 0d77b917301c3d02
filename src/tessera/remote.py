"""The remote transport: with ``TESSERA_URL`` set, the CLI and SDK use ``RemoteStore``, which
answers the store's reads and writes through the server's REST API instead of a database.

It is a ``Store`` to its callers (the same methods, the same records and errors), so the CLI and
SDK behave the same locally and against a server; the server authenticates it with
``TESSERA_TOKEN`` (a bearer header) and limits it to the token's project.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from tessera.config import Settings
from tessera.errors import ControllerError, NotFoundError, SpecError, TesseraError
from tessera.models.job import Attempt, Event, Job
from tessera.models.spec import JobSpec
from tessera.models.states import JobState
from tessera.scheduler.decide import Capacity
from tessera.server.wire import attempt_from_json, b64, event_from_json, job_from_json, unb64
from tessera.store import Store
from tessera.store.hot import Tx

PAGE = 1000


class AuthError(TesseraError):
    """The server refused the credentials (exit 2)."""


def connect(settings: Settings) -> RemoteStore | None:
    """A ``RemoteStore`` when ``TESSERA_URL`` (``url`` in config.yaml) is set, else None."""
    if not settings.url:
        return None
    return RemoteStore(settings.url, settings.token)


class RemoteStore(Store):
    """The store's interface over HTTP. Thread-safe (httpx's client is)."""

    def __init__(self, url: str, token: str) -> None:  # noqa: D107 - no database: Store.__init__ is not called
        try:
            import httpx
        except ImportError:
            raise ControllerError("TESSERA_URL is set but httpx is not installed",
                                  "pip install 'tessera[remote]', or unset TESSERA_URL to work locally") from None
        if not token:
            raise AuthError(f"TESSERA_URL is set ({url}) but TESSERA_TOKEN is not",
                            "create a token on the server (`tessera token create`) and export TESSERA_TOKEN")
        self.url = url.rstrip("/")
        self.dialect = "remote"
        self._httpx = httpx
        self._http = httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {token}"}, timeout=60.0)

    def close(self) -> None:
        self._http.close()

    # ---------------------------------------------------------------- transport

    def call(self, method: str, path: str, **kw: Any) -> Any:
        """One API call; errors become tessera's errors with the server's ``To fix``."""
        for _ in range(20):
            try:
                r = self._http.request(method, f"/api/v1{path}", **kw)
            except self._httpx.HTTPError as e:
                raise ControllerError(f"cannot reach the tessera server at {self.url}: {e}",
                                      "start it with `tessera server`, or check TESSERA_URL") from None
            if r.status_code == 429:
                time.sleep(min(5.0, float(r.headers.get("Retry-After", "1"))))
                continue
            if r.status_code < 400:
                return r.json()
            try:
                body = r.json()
                what, fix = body.get("error") or r.text, body.get("fix")
            except ValueError:
                what, fix = r.text[:500], None
            if r.status_code == 404:
                raise NotFoundError(what, fix)
            if r.status_code in (401, 403):
                raise AuthError(what, fix)
            if r.status_code < 500:
                raise SpecError(what, fix)
            raise ControllerError(f"the server failed ({r.status_code}): {what}", fix or "read the server's log")
        raise ControllerError("the server kept refusing requests as too many", "retry later, or raise its --rate")

    # ---------------------------------------------------------------- reads

    def job(self, ref: str | int) -> Job:
        return job_from_json(self.call("GET", f"/jobs/{ref}"))

    def jobs(self, states: Iterable[JobState] | None = None, ids: Iterable[int] | None = None, limit: int = 1000,
             elements: bool = False, array_id: int | None = None) -> list[Job]:
        params: dict[str, Any] = {"elements": elements}
        if states is not None:
            params["state"] = [s.value for s in states]
            if not params["state"]:
                return []
        if ids is not None:
            params["id"] = list(ids)
            if not params["id"]:
                return []
        if array_id is not None:
            params["array_id"] = array_id
        out: list[Job] = []
        before = None
        while len(out) < limit:
            page = self.call("GET", "/jobs", params={**params, "limit": min(PAGE, limit - len(out)),
                                                     **({"before": before} if before is not None else {})})
            out += [job_from_json(d) for d in page["items"]]
            before = page["next"]
            if before is None:
                break
        return out

    def _detail(self, job_id: int) -> dict[str, Any]:
        return self.call("GET", f"/jobs/{job_id}")  # type: ignore[no-any-return]

    def attempts(self, job_id: int | None = None, open_only: bool = False) -> list[Attempt]:
        if job_id is None:
            raise SpecError("listing every attempt is not offered by the server", "ask for one job's attempts")
        atts = [attempt_from_json(a) for a in self._detail(job_id)["attempt_list"]]
        return [a for a in atts if a.state in ("starting", "running")] if open_only else atts

    def events(self, job_id: int) -> list[Event]:
        return [event_from_json(e) for e in self._detail(job_id)["events"]]

    def element_counts(self, array_id: int) -> dict[str, int]:
        return self._detail(array_id)["elements"] or {}  # type: ignore[no-any-return]

    def dependency_states(self, job_ids: Iterable[int]) -> dict[int, list[tuple[str, int, str]]]:
        return {j: [(d["kind"], d["on"], d["state"]) for d in self._detail(j)["dependencies"]] for j in job_ids}

    def _result(self, job_id: int) -> dict[str, Any] | None:
        try:
            return self.call("GET", f"/jobs/{job_id}/result")  # type: ignore[no-any-return]
        except NotFoundError:
            return None

    def finished(self, job_id: int) -> tuple[JobState, str | None, bytes | None, str | None] | None:
        r = self._result(job_id)
        return None if r is None else (JobState(r["state"]), r["encoding"], unb64(r["data_b64"]), r["error"])

    def result(self, job_id: int) -> tuple[str | None, bytes | None, str | None] | None:
        r = self._result(job_id)
        return None if r is None or not r["committed"] else (r["encoding"], unb64(r["data_b64"]), r["error"])

    def array_results(self, array_id: int) -> list[tuple[int, int, str, str | None, bytes | None, str | None]]:
        return [(d["job_id"], d["index"], d["state"], d["encoding"], unb64(d["data_b64"]), d["error"])
                for d in self.call("GET", f"/jobs/{array_id}/results")["items"]]

    def queues(self) -> dict[str, int]:
        return {q["name"]: q["priority"] for q in self.call("GET", "/queues")["items"]}

    def counts(self, elements: bool = True) -> dict[str, int]:
        return self.call("GET", "/status")["counts"]  # type: ignore[no-any-return]

    def latest_controller(self) -> dict[str, Any] | None:
        ctl = self.call("GET", "/status")["controller"]
        if ctl is None:
            return None
        return {"id": ctl.get("id"), "heartbeat_at": ctl.get("heartbeat_at"), "stopped_at": None, "status": ctl}

    def capacity(self) -> Capacity:
        """The server's capacity (what submitted jobs are checked against)."""
        cap = self.call("GET", "/hardware", params={"profiles": 0})["capacity"]
        return Capacity(cpus=float(cap["cpus"]), memory_mb=int(cap["memory_mb"]), gpus=tuple(range(cap["gpus"])))

    def job_costs(self, jobs: Sequence[Job]) -> dict[int, dict[str, Any]]:
        """``tessera.cli.cost.job_costs`` computed by the server."""
        if not jobs:
            return {}
        got = self.call("GET", "/costs/jobs", params={"id": [j.id for j in jobs]})["items"]
        return {int(k): v for k, v in got.items()}

    def log_chunk(self, ref: str, stream: str = "stdout", attempt: int | None = None, offset: int = 0) -> dict[str, Any]:
        params: dict[str, Any] = {"stream": stream, "offset": offset}
        if attempt is not None:
            params["attempt"] = attempt
        return self.call("GET", f"/jobs/{ref}/logs", params=params)  # type: ignore[no-any-return]

    def log_text(self, ref: str, stream: str = "stdout") -> str:
        """The whole output of the latest attempt."""
        parts, offset = [], 0
        while True:
            chunk = self.log_chunk(ref, stream, offset=offset)
            parts.append(chunk["data"])
            if chunk["offset"] <= offset or chunk["offset"] >= chunk["size"]:
                return "".join(parts)
            offset = chunk["offset"]

    # ---------------------------------------------------------------- writes

    def submit_specs(self, specs: Sequence[JobSpec], element_payloads: dict[int, tuple[bytes, ...]] | None = None,
                     **_: Any) -> list[int]:
        """Send the jobs as one batch; the server checks them (feasibility, dependencies, project),
        places and budgets them as ``tessera.submit`` does locally, and stores them."""
        jobs = []
        for i, spec in enumerate(specs):
            d = spec.model_dump(mode="json", exclude={"payload"}, exclude_defaults=True)
            if spec.payload is not None:
                d["payload_b64"] = b64(spec.payload)
            if element_payloads and i in element_payloads:
                d["element_payloads_b64"] = [b64(p) for p in element_payloads[i]]
            jobs.append(d)
        return [int(i) for i in self.call("POST", "/jobs/batch", json={"jobs": jobs})["ids"]]

    def request_cancel(self, job_ids: Sequence[int], then: Callable[[Tx, int], object] | None = None) -> int:
        """Through the server, which writes the audit entry with the request (``then`` is its own)."""
        if then is not None:
            raise TypeError("a remote store takes no transaction hook: the server writes in its own")
        if not job_ids:
            return 0
        return int(self.call("POST", "/jobs/cancel", json={"ids": [str(j) for j in job_ids]})["cancelled"])

    def create_queue(self, name: str, priority: int = 0) -> None:
        self.call("POST", "/queues", json={"name": name, "priority": priority})

    def _read(self) -> Any:
        raise TesseraError("this needs direct access to the store, which a client of a server does not have",
                           "run it on the server's machine without TESSERA_URL")

    _write = _read


def remote_logs(store: RemoteStore, ref: str, follow: bool, stream: str, attempt: int | None) -> None:
    """``tessera logs`` against a server: print chunks from the byte offset, until the job ends if following."""
    import sys

    offset = 0
    while True:
        chunk = store.log_chunk(ref, stream, attempt, offset)
        if chunk["attempt"] is None and not follow:
            raise NotFoundError(f"job {ref} has no attempt yet" if attempt is None else f"no attempt {attempt}",
                                f"wait for it to start (`tessera explain {ref}`)")
        sys.stdout.write(chunk["data"])
        sys.stdout.flush()
        moved = chunk["offset"] > offset
        offset = chunk["offset"]
        if chunk["done"] or (not follow and not moved) or (not follow and offset >= chunk["size"]):
            return
        if not moved:
            time.sleep(0.2)
