"""Sampling running attempts: CPU, memory and IO of each attempt's process tree (psutil), and the
use of its GPUs (NVML, when present), every ``interval`` seconds, into the ``samples`` table.

Only attempts whose controller runs on this host are sampled (their pids are ours). A warm worker
runs many attempts in turn, so IO is counted from the attempt's first reading.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import time
from dataclasses import dataclass
from typing import Any

import psutil

from tessera.monitor import series
from tessera.monitor.periodic import Periodic
from tessera.store import Store

logger = logging.getLogger(__name__)
MB = 1 << 20


@dataclass
class _Seen:
    pid: int
    cpu_s: float
    at: float
    io0: float
    io0_w: float


def tree(pid: int) -> list[psutil.Process]:
    try:
        p = psutil.Process(pid)
        return [p, *p.children(recursive=True)]
    except psutil.Error:
        return []


def read_tree(procs: list[psutil.Process]) -> tuple[float, float, float, float, set[int]]:
    """(CPU seconds, RSS MB, read MB, written MB, pids) of a process tree; vanished processes are skipped."""
    cpu = rss = rd = wr = 0.0
    pids: set[int] = set()
    for p in procs:
        try:
            with p.oneshot():
                ct = p.cpu_times()
                cpu += ct.user + ct.system + ct.children_user + ct.children_system
                rss += p.memory_info().rss / MB
                with contextlib.suppress(psutil.AccessDenied, AttributeError):
                    io = p.io_counters()
                    rd += io.read_bytes / MB
                    wr += io.write_bytes / MB
                pids.add(p.pid)
        except psutil.Error:
            continue
    return cpu, rss, rd, wr, pids


class Gpus:
    """NVML readings: utilisation of given GPUs and memory held by given pids (empty without NVML)."""

    def __init__(self) -> None:
        self.nvml: Any = None
        try:
            import pynvml

            pynvml.nvmlInit()
            self.nvml = pynvml
        except Exception:  # noqa: BLE001 - no driver or no library: no GPU readings
            self.nvml = None

    def read(self, gpu_ids: list[int], pids: set[int]) -> tuple[float | None, float | None]:
        if self.nvml is None or not gpu_ids:
            return None, None
        nv = self.nvml
        busy, mem = [], 0.0
        try:
            for i in gpu_ids:
                h = nv.nvmlDeviceGetHandleByIndex(i)
                busy.append(float(nv.nvmlDeviceGetUtilizationRates(h).gpu))
                for proc in nv.nvmlDeviceGetComputeRunningProcesses(h):
                    if proc.pid in pids and proc.usedGpuMemory is not None:
                        mem += proc.usedGpuMemory / MB
        except Exception as e:  # noqa: BLE001 - a GPU that went away ends its readings, not the sampler
            logger.debug("NVML reading failed: %s", e)
            return None, None
        return sum(busy) / len(busy), mem

    def close(self) -> None:
        if self.nvml is not None:
            with contextlib.suppress(Exception):
                self.nvml.nvmlShutdown()


KEEP_S = 30 * 86400  # readings are kept this long (TESSERA_SAMPLES_KEEP_DAYS)
PRUNE_EVERY = 3600  # rounds between prunes


class Sampler:
    """Reads every running attempt of this host each ``interval`` seconds; ``sample_once`` for tests.
    Readings older than ``keep_s`` are deleted now and then, so the table does not grow forever."""

    def __init__(self, store: Store, interval: float = 1.0, gpus: Gpus | None = None,
                 keep_s: float | None = None) -> None:
        self.store = store
        self.interval = interval
        days = os.environ.get("TESSERA_SAMPLES_KEEP_DAYS")
        self.keep_s = keep_s if keep_s is not None else (float(days) * 86400 if days else KEEP_S)
        self._rounds = 0
        self.gpus = gpus if gpus is not None else Gpus()
        self.host = socket.gethostname()
        self._seen: dict[int, _Seen] = {}
        self._periodic = Periodic("tessera-sampler", interval, self.sample_once)

    def sample_once(self, now: float | None = None) -> int:
        """One round; returns how many readings were written."""
        rows = []
        live = set()
        for attempt_id, job_id, pid, gpu_ids in series.open_attempts(self.store, self.host):
            now_ = time.time() if now is None else now
            cpu, rss, rd, wr, pids = read_tree(tree(pid))
            if not pids:
                continue
            live.add(attempt_id)
            seen = self._seen.get(attempt_id)
            if seen is None or seen.pid != pid:
                self._seen[attempt_id] = _Seen(pid, cpu, now_, rd, wr)
                continue  # the first reading is the baseline for CPU and IO
            pct = max(0.0, (cpu - seen.cpu_s) / (now_ - seen.at) * 100.0) if now_ > seen.at else 0.0
            seen.cpu_s, seen.at = cpu, now_
            gpu_pct, gpu_mem = self.gpus.read(gpu_ids, pids)
            rows.append((attempt_id, job_id, now_, round(pct, 2), round(rss, 2), round(max(0.0, rd - seen.io0), 3),
                         round(max(0.0, wr - seen.io0_w), 3), gpu_pct, gpu_mem))
        for gone in set(self._seen) - live:
            del self._seen[gone]
        series.write(self.store, rows)
        self._rounds += 1
        if self._rounds % PRUNE_EVERY == 1:
            series.prune(self.store, time.time() - self.keep_s)
        return len(rows)

    def start(self) -> None:
        self._periodic.start()

    def stop(self) -> None:
        self._periodic.stop(5)
        self.gpus.close()
