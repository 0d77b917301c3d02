"""Routing queues to executors: reading routes, and scheduling each queue on its own executor's capacity."""

from __future__ import annotations

from typing import Any

import pytest

from tessera.errors import SpecError
from tessera.executors.base import Feature, Launch
from tessera.executors.routed import GPU_STRIDE, RoutedExecutor, decide_by_lane, parse_routes
from tessera.scheduler.decide import Capacity, Placement, Running
from tessera.store.records import Candidate


class Fake:
    """An executor that records what it was given."""

    def __init__(self, name: str, cap: Capacity) -> None:
        self.name, self.cap = name, cap
        self.features = frozenset({Feature.COMMANDS})
        self.launched: list[Launch] = []
        self.killed: list[int] = []
        self.woken = 0
        self.notify: Any = None

    def capacity(self) -> Capacity:
        return self.cap

    def launch(self, launch: Launch, queued: bool = False) -> None:
        self.launched.append(launch)

    def pipeline_room(self, depth: int) -> int:
        return 3 if self.name == "ray" else 0

    def kill(self, attempt_id: int, reason: Any) -> None:
        self.killed.append(attempt_id)

    def poll(self, timeout: float) -> tuple[list[Any], list[Any]]:
        return [], []

    def wake(self) -> None:
        self.woken += 1

    def close(self, grace_s: float = 5.0) -> list[Any]:
        return []


def router() -> tuple[RoutedExecutor, Fake, Fake]:
    local, ray = Fake("local", Capacity(2, 1000, ())), Fake("ray", Capacity(4, 8000, (0, 1)))
    return RoutedExecutor({"local": local, "ray": ray}, {"gpu": "ray"}, "local"), local, ray


def cand(i: int, queue: str = "default", cpus: float = 1, gpus: int = 0) -> Candidate:
    return Candidate(i, 0, 0, cpus, None, gpus, None, None, "command", queue)


def test_parse_routes() -> None:
    assert parse_routes("gpu=ray, big=ray train=local", ("local", "ray")) == {"gpu": "ray", "big": "ray",
                                                                            "train": "local"}
    assert parse_routes("", ("local", "ray")) == {}
    for bad, says in (("gpu", "QUEUE=EXECUTOR"), ("gpu=slurm", "unknown executor 'slurm'"),
                      ("GPU=ray", "not a queue name"), ("gpu=ray,gpu=local", "two executors")):
        with pytest.raises(SpecError, match=says):
            parse_routes(bad, ("local", "ray"))


def test_each_queue_is_packed_on_its_own_executor() -> None:
    r, _, _ = router()
    total = r.capacity()
    assert Capacity(total.cpus, total.memory_mb, total.gpus) == Capacity(6, 9000, (GPU_STRIDE, GPU_STRIDE + 1))  # the lanes' GPUs never collide
    window = [cand(1), cand(2), cand(3), cand(4, "gpu", cpus=4), cand(5, "gpu", gpus=1)]
    d = decide_by_lane(r, window, [], 0.0, {}, {})
    assert sorted(p.job_id for p in d.placements) == [1, 2, 4]  # 2 local CPUs; job 4 takes all 4 of Ray's
    # a local attempt holding one CPU leaves one for the local queue; Ray's capacity is untouched by it
    held = [("default", Running(1, None, ()))]
    d = decide_by_lane(r, [cand(2), cand(3), cand(5, "gpu", gpus=1)], held, 0.0, {}, {})
    placed = {p.job_id: p for p in d.placements}
    assert sorted(placed) == [2, 5] and placed[5].gpus == (GPU_STRIDE,)


def test_launch_goes_to_the_queue_s_executor_with_its_own_gpu_ids() -> None:
    r, local, ray = router()
    r.launch(Launch(1, 1, "1", "command", Placement(1, 1, None, (GPU_STRIDE + 1,)), queue="gpu"))
    r.launch(Launch(2, 2, "2", "command", Placement(2, 1, None, ()), queue="default"))
    assert [la.placement.gpus for la in ray.launched] == [(1,)] and [la.job_id for la in local.launched] == [2]
    r.kill(1, None)
    assert ray.killed == [1] and local.killed == []
    assert ray.notify is not None
    ray.notify()
    assert local.woken == 1  # a Ray task that ends wakes the loop blocked in the local executor
    assert r.lane_room(8) == {"local": 0, "ray": 3} and r.queues("local") == ["*"] and r.queues("ray") == ["gpu"]


def test_the_loop_blocks_in_the_local_executor_whichever_is_the_default() -> None:
    local, ray = Fake("local", Capacity(2, 1000, ())), Fake("ray", Capacity(4, 8000, (0, 1)))
    r = RoutedExecutor({"local": local, "ray": ray}, {"cpu": "local"}, "ray")
    assert r.lane_of("anything") == "ray" and r.lane_of("cpu") == "local"
    r.wake()
    ray.notify()
    assert local.woken == 2 and ray.woken == 0


def test_a_job_its_queues_executor_could_never_run_is_refused_at_submit() -> None:
    """The router's capacity keeps each queue's executor apart, so a GPU job on a queue whose
    executor has no GPU is refused (not accepted to wait forever), and fits on the GPU queue."""
    from tessera.errors import InfeasibleError
    from tessera.jobfile import to_spec
    from tessera.submit import check_feasible

    router = RoutedExecutor({"local": Fake("local", Capacity(2, 1000)), "ray": Fake("ray", Capacity(8, 8000, (0, 1)))},
                            {"gpu": "ray"}, "local")
    total = router.capacity()
    assert (total.cpus, total.memory_mb, len(total.gpus)) == (10, 9000, 2)  # the sum, as before
    assert total.for_queue("gpu").cpus == 8 and total.for_queue("other").cpus == 2
    check_feasible(to_spec({"command": ["true"], "queue": "gpu", "gpus": 2}, "submit"), total)
    with pytest.raises(InfeasibleError, match="executor of queue 'default' has only 2 CPUs") as err:
        check_feasible(to_spec({"command": ["true"], "gpus": 1}, "submit"), total)
    assert "tessera status" in err.value.fix
    with pytest.raises(InfeasibleError, match="executor of queue 'gpu'"):
        check_feasible(to_spec({"command": ["true"], "queue": "gpu", "cpus": 9}, "submit"), total)
