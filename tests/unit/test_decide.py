"""The pure scheduler: priority order, packing, GPU assignment, array caps and EASY backfill."""

from __future__ import annotations

import math

from tessera.models.states import Reason
from tessera.scheduler.decide import Capacity, Running, decide, fits_at_all
from tessera.store.records import Candidate

NOW = 1000.0


def cand(i: int, cpus: float = 1, mem: int | None = None, gpus: int = 0, timeout: float | None = None,
         array: int | None = None, prio: int = 0) -> Candidate:
    return Candidate(i, 0, prio, cpus, mem, gpus, timeout, array, "command")


def placed(d) -> list[int]:  # type: ignore[no-untyped-def]
    return [p.job_id for p in d.placements]


def reasons(d) -> dict[int, Reason]:  # type: ignore[no-untyped-def]
    return {i: r for i, r, _ in d.reasons}


def test_places_in_the_order_given_until_full() -> None:
    d = decide([cand(3), cand(1), cand(2)], Capacity(2, 1000), [], NOW)
    assert placed(d) == [3, 1]
    assert reasons(d) == {2: Reason.RESOURCES}


def test_packs_cpus_and_memory() -> None:
    cs = [cand(1, cpus=1.5, mem=400), cand(2, cpus=0.5, mem=400), cand(3, cpus=0.5, mem=400), cand(4, cpus=0.5)]
    d = decide(cs, Capacity(4, 1000), [], NOW)
    # 3 does not fit in memory (800 + 400 > 1000) and nothing running has a known end: 4 still starts
    assert placed(d) == [1, 2, 4]
    assert reasons(d)[3] is Reason.RESOURCES
    detail = dict((i, t) for i, _, t in d.reasons)[3]
    assert "MB" in (detail or "")


def test_fractional_cpus_fill_exactly() -> None:
    d = decide([cand(i, cpus=0.1) for i in range(10)], Capacity(1.0, 1000), [], NOW)
    assert len(d.placements) == 10


def test_gpu_assignment_is_disjoint() -> None:
    cs = [cand(1, gpus=2), cand(2, gpus=1), cand(3, gpus=1), cand(4)]
    d = decide(cs, Capacity(8, 1000, (0, 1, 2)), [], NOW)
    gpus = {p.job_id: p.gpus for p in d.placements}
    assert gpus[1] == (0, 1) and gpus[2] == (2,) and gpus[4] == ()
    assert reasons(d)[3] is Reason.NO_FREE_GPU
    used = [g for p in d.placements for g in p.gpus]
    assert len(used) == len(set(used))


def test_gpus_taken_by_running_jobs_are_not_reused() -> None:
    d = decide([cand(1, gpus=1)], Capacity(8, 1000, (1,)), [Running(1, None, (0,))], NOW)
    assert d.placements[0].gpus == (1,)


def test_array_cap() -> None:
    cs = [cand(i, array=9) for i in range(1, 6)] + [cand(6, array=8)]
    d = decide(cs, Capacity(16, 1000), [], NOW, array_running={9: 1}, array_caps={9: 3, 8: None})
    assert placed(d) == [1, 2, 6]
    assert {i for i, r in reasons(d).items() if r is Reason.ARRAY_CAP} == {3, 4, 5}


def test_array_cap_already_reached() -> None:
    d = decide([cand(1, array=9)], Capacity(16, 1000), [], NOW, array_running={9: 2}, array_caps={9: 2})
    assert placed(d) == [] and reasons(d) == {1: Reason.ARRAY_CAP}


def test_easy_backfill_short_job_before_the_shadow_time() -> None:
    # 4 CPUs: a running job holds 2 until NOW+100. The big job (4 CPUs) is reserved for NOW+100.
    running = [Running(2, None, (), NOW + 100)]
    cs = [cand(1, cpus=4), cand(2, cpus=1, timeout=50), cand(3, cpus=1, timeout=500), cand(4, cpus=1)]
    d = decide(cs, Capacity(2, 1000), running, NOW)
    assert placed(d) == [2]
    r = reasons(d)
    assert r[1] is Reason.RESOURCES
    assert r[3] is Reason.RESERVED  # would still run when the big job should start
    assert r[4] is Reason.RESERVED  # no timeout: could run forever


def test_backfill_boundary_ends_exactly_at_the_shadow_time() -> None:
    running = [Running(2, None, (), NOW + 100)]
    d = decide([cand(1, cpus=4), cand(2, cpus=1, timeout=100)], Capacity(2, 1000), running, NOW)
    assert placed(d) == [2]
    d = decide([cand(1, cpus=4), cand(2, cpus=1, timeout=100.5)], Capacity(2, 1000), running, NOW)
    assert placed(d) == []


def test_backfill_into_what_the_reserved_job_leaves_over() -> None:
    # 8 CPUs, 6 held until NOW+100, 2 free. Reserved job needs 7: at NOW+100 one CPU is spare.
    running = [Running(6, None, (), NOW + 100)]
    cs = [cand(1, cpus=7), cand(2, cpus=1), cand(3, cpus=1)]
    d = decide(cs, Capacity(2, 1000), running, NOW)
    assert placed(d) == [2]  # the spare CPU, no timeout needed
    assert reasons(d)[3] is Reason.RESERVED


def test_backfill_respects_gpu_reservation() -> None:
    running = [Running(1, None, (0,), NOW + 100)]
    cs = [cand(1, gpus=2), cand(2, gpus=1), cand(3, gpus=1, timeout=10)]
    d = decide(cs, Capacity(8, 1000, (1,)), running, NOW)
    assert placed(d) == [3]
    assert reasons(d)[2] is Reason.RESERVED


def test_no_known_end_falls_back_to_first_fit() -> None:
    running = [Running(2, None, (), math.inf)]
    d = decide([cand(1, cpus=4), cand(2, cpus=1)], Capacity(2, 1000), running, NOW)
    assert placed(d) == [2]


def test_a_placed_job_no_longer_counts_as_free() -> None:
    d = decide([cand(1, cpus=1), cand(2, cpus=1), cand(3, cpus=1)], Capacity(2, 1000), [], NOW)
    assert placed(d) == [1, 2]
    assert sum(p.cpus for p in d.placements) <= 2


def test_empty_inputs() -> None:
    d = decide([], Capacity(1, 1), [], NOW)
    assert d.placements == [] and d.reasons == []


def test_fits_at_all() -> None:
    total = Capacity(4, 1000, (0, 1))
    assert fits_at_all(total, 4, 1000, 2)
    assert not fits_at_all(total, 5, None, 0)
    assert not fits_at_all(total, 1, 1001, 0)
    assert not fits_at_all(total, 1, None, 3)


def test_capacity_take_and_give_are_inverse() -> None:
    c = Capacity(4, 1000, (0, 1, 2))
    assert c.take(1.5, 200, (1,)).give(1.5, 200, (1,)) == c


def test_waiting_jobs_of_one_shape_share_a_reason_worded_for_what_is_free_then() -> None:
    """Equal jobs that do not fit get the same worded reason; the wording follows the free
    capacity at each job's turn (a placement in between changes it)."""
    queue = [cand(1, cpus=4), cand(2, cpus=4), cand(3, cpus=1), cand(4, cpus=4), cand(5, gpus=1)]
    d = decide(queue, Capacity(3, 1000), [], NOW)
    assert placed(d) == [3]
    detail = {i: text for i, _r, text in d.reasons}
    assert detail[1] == detail[2] == "needs 4 CPUs, 3 free"
    assert detail[4] == "needs 4 CPUs, 2 free"
    assert reasons(d)[5] is Reason.NO_FREE_GPU and detail[5] == "needs 1 GPUs, 0 free"
