"""Prometheus metrics of one project, gathered from the store at each scrape (prometheus-client).

    tessera_jobs{queue,state}                 jobs (and array elements) by queue and state
    tessera_attempts{state}                   attempts by state
    tessera_cost_usd{queue}                   what the project's attempts cost (with the cost ledger)
    tessera_running_cpu_percent               CPU use of the running attempts (latest samples)
    tessera_running_rss_mb                    their resident memory
    tessera_running_gpu_percent               mean busy percent of their GPUs (with NVML)
    tessera_capacity_cpus{kind=total|free}    and _memory_mb, _gpus: the controller's executor
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import and_, func, select

from tessera.monitor import spend
from tessera.scheduler.decide import Capacity
from tessera.store import Store
from tessera.store import schema as t
from tessera.store.engine import translated

RECENT_S = 30.0  # samples older than this do not describe a running attempt


class ProjectCollector(Collector):
    def __init__(self, store: Store, project: str, total: Capacity | None = None, home: Path | None = None) -> None:
        self.store, self.project, self.total, self.home = store, project, total, home

    def collect(self) -> Iterator[GaugeMetricFamily]:
        j, a, s = t.jobs.c, t.attempts.c, t.samples.c
        jobs = GaugeMetricFamily("tessera_jobs", "Jobs and array elements by queue and state", labels=["queue", "state"])
        attempts = GaugeMetricFamily("tessera_attempts", "Attempts by state", labels=["state"])
        with translated("gathering metrics"), self.store._read() as conn:
            for queue, state, n in conn.execute(
                    select(j.queue, j.state, func.count()).where(and_(j.project == self.project, j.is_array.is_(False)))
                    .group_by(j.queue, j.state)):
                jobs.add_metric([queue, state], n)
            for state, n in conn.execute(
                    select(a.state, func.count()).join(t.jobs, j.id == a.job_id).where(j.project == self.project)
                    .group_by(a.state)):
                attempts.add_metric([state], n)
            latest = (select(s.attempt_id, func.max(s.at).label("at")).join(t.attempts, a.id == s.attempt_id)
                      .join(t.jobs, j.id == a.job_id)
                      .where(and_(j.project == self.project, a.state.in_(["starting", "running"]),
                                  s.at > time.time() - RECENT_S))
                      .group_by(s.attempt_id).subquery())
            use = conn.execute(select(func.sum(s.cpu_pct), func.sum(s.rss_mb), func.avg(s.gpu_pct)).join(
                latest, and_(s.attempt_id == latest.c.attempt_id, s.at == latest.c.at))).first()
        yield jobs
        yield attempts
        for name, doc, value in (("tessera_running_cpu_percent", "CPU percent of running attempts (100 = one CPU)", 0),
                                 ("tessera_running_rss_mb", "Resident memory of running attempts", 1),
                                 ("tessera_running_gpu_percent", "Mean busy percent of running attempts' GPUs", 2)):
            g = GaugeMetricFamily(name, doc)
            g.add_metric([], float(use[value] or 0.0) if use is not None else 0.0)
            yield g
        yield from self._capacity()
        yield from self._cost()

    def _capacity(self) -> Iterator[GaugeMetricFamily]:
        ctl = self.store.latest_controller()
        if not ctl or ctl.get("stopped_at") or not ctl.get("status"):
            return
        for what in ("cpus", "memory_mb", "gpus"):
            g = GaugeMetricFamily(f"tessera_capacity_{what}", f"Executor {what}", labels=["executor", "kind"])
            for ex in ctl["status"].get("executors", []):
                for kind in ("total", "free"):
                    g.add_metric([ex["name"], kind], float(ex[kind][what]))
            yield g

    def _cost(self) -> Iterator[GaugeMetricFamily]:
        if not spend.available() or self.total is None or self.home is None:
            return
        from tessera.cost.ledger import roll_up

        costs = [c for _r, c in spend.priced(self.store, self.total, self.home, self.project) if c is not None]
        g = GaugeMetricFamily("tessera_cost_usd", "What the project's attempts cost, by queue", labels=["queue"])
        for row in roll_up(costs, "queue"):
            g.add_metric([row["queue"]], row["usd"])
        yield g


def exposition(store: Store, project: str, total: Capacity | None = None,
               home: Path | None = None) -> tuple[bytes, str]:
    """The text exposition for ``project`` and its content type."""
    from prometheus_client import CONTENT_TYPE_LATEST

    reg = CollectorRegistry(auto_describe=False)
    reg.register(ProjectCollector(store, project, total, home))
    return generate_latest(reg), CONTENT_TYPE_LATEST
