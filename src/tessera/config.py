"""``Settings``: one object for every knob, read from ``TESSERA_*`` variables and ``$TESSERA_HOME/config.yaml``."""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tessera.errors import SpecError

if TYPE_CHECKING:
    from tessera.models.job import Job


@dataclass(frozen=True)
class Settings:
    """Where tessera keeps its state and how its controller behaves.

    Each field reads ``TESSERA_<FIELD>`` (upper case) and, failing that, the same key in
    ``$TESSERA_HOME/config.yaml``. ``gpus`` declares logical GPUs (for tests, or to hide some).
    ``pipeline`` caps how many small Python attempts a busy worker may hold queued (1 turns it
    off); the controller queues fewer when recent small jobs ran longer (about 20 ms of work each).
    ``executor`` is ``local`` or ``ray``; ``ray_address`` is where the Ray cluster is (``auto``,
    ``ray://host:10001``, ``host:6379``; empty starts a Ray instance on this machine).
    ``queue_executors`` (``QUEUE=EXECUTOR``, comma-separated) runs those queues on another executor.
    """

    home: Path
    db: str = ""
    cpus: float | None = None
    memory_mb: int | None = None
    gpus: int | None = None
    workers: int | None = None
    lease_s: float = 30.0
    heartbeat_s: float = 2.0
    kill_grace_s: float = 5.0
    infra_retries: int = 3
    pipeline: int = 64
    log_level: str = "WARNING"
    # spot and checkpoints (tessera.spot, tessera.runtime): see docs/reliability.md
    checkpoint_url: str = ""
    spot_slots: int = 0
    preemption_rate: str = ""
    preemption_trace: str = ""
    preemption_seed: int = 0
    notice_s: float = 120.0
    preemption_cap: int = 3
    url: str = ""  # a tessera server: the CLI and SDK then talk to it (tessera.remote)
    token: str = ""  # the API token sent to that server
    executor: str = "local"
    ray_address: str = ""
    queue_executors: str = ""  # "gpu=ray,big=ray": those queues run on another executor (executors/routed.py)

    @property
    def db_url(self) -> str:
        return self.db or f"sqlite:///{self.home / 'tessera.db'}"

    @property
    def scratch_dir(self) -> Path:
        return self.home / "scratch"

    def scratch_path(self, attempt_id: int) -> str:
        """An attempt's scratch folder (``TESSERA_SCRATCH_DIR``), made by its executor and removed
        once it succeeded; a failed attempt's stays for a look until ``tessera prune``."""
        return f"{self.home}/scratch/{attempt_id}"

    @property
    def socket_path(self) -> Path:
        return self.home / "controller.sock"

    @property
    def lock_path(self) -> Path:
        return self.home / "controller.lock"

    @classmethod
    def load(cls, **overrides: Any) -> Settings:
        home = Path(overrides.pop("home", None) or os.environ.get("TESSERA_HOME") or "~/.tessera").expanduser()
        file_values: dict[str, Any] = {}
        cfg = home / "config.yaml"
        if cfg.exists():
            import yaml  # here: most processes have no config file (an embedded client's start imports no yaml)

            try:
                file_values = yaml.safe_load(cfg.read_text()) or {}
            except yaml.YAMLError as e:
                raise SpecError(f"{cfg} is not valid YAML: {e}", f"fix or remove {cfg}") from None
            if not isinstance(file_values, dict):
                raise SpecError(f"{cfg} must be a mapping of settings", f"fix or remove {cfg}")
        values: dict[str, Any] = {"home": home}
        known = {f.name: f for f in fields(cls) if f.name != "home"}
        unknown = set(file_values) - set(known)
        if unknown:
            raise SpecError(
                f"{cfg} has unknown settings {sorted(unknown)}",
                f"use only {', '.join(sorted(known))}",
            )
        for name, f in known.items():
            raw = os.environ.get(f"TESSERA_{name.upper()}", file_values.get(name))
            if name in overrides:
                raw = overrides[name]
            if raw is None or raw == "":
                continue
            values[name] = _coerce(name, str(f.type), raw)
        return cls(**values)

    def log_path(self, job: Job, number: int, stream: str) -> str:
        """Where attempt ``number`` of a job writes ``stream`` (stdout or stderr):
        ``logs/jobs/<job id // 1000>/<job id>.<n>.out`` (a folder per thousand jobs, not one per
        job: making folders cost more than running a small job), or
        ``logs/<array id>/<index>.<n>.out`` for an array element."""
        ext = "err" if stream == "stderr" else "out"
        if job.array_id is None:
            return f"{self.home}/logs/jobs/{job.id // 1000}/{job.id}.{number}.{ext}"
        return f"{self.home}/logs/{job.array_id}/{job.array_index}.{number}.{ext}"


def _coerce(name: str, typ: str, raw: Any) -> Any:
    try:
        if "float" in typ:
            v: Any = float(raw)
        elif "int" in typ:
            v = int(raw)
        else:
            return str(raw)
    except (TypeError, ValueError):
        raise SpecError(
            f"setting {name}={raw!r} is not a number",
            f"set TESSERA_{name.upper()} (or {name} in config.yaml) to a number",
        ) from None
    if v < 0:
        raise SpecError(f"setting {name}={raw!r} is negative", f"give {name} a value of zero or more")
    return v
