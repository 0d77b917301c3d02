"""Which variant a job runs as: pure, a function of predictions, queue waits and prices.

For each variant: its predicted runtime, the wait before its device frees up (the queue's
backlog on that device), so its finish time is ``wait + runtime``, and its dollars (runtime ×
its hourly rate). ``optimize=time`` takes the earliest finish, ``optimize=cost`` the fewest
dollars (ties: earlier finish). A ``deadline_s`` drops variants that would finish later, a
``max_cost_usd`` those that would cost more; when none is left the job is refused, so nothing
runs against the user's limits.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from tessera.errors import SpecError
from tessera.models.placement import Variant


@dataclass(frozen=True)
class Option:
    """One variant's figures."""

    variant: str
    device: str
    predicted_s: float | None
    wait_s: float
    usd_per_hour: float
    finish_s: float | None = None
    usd: float | None = None


@dataclass(frozen=True)
class Choice:
    """The decision and the figures behind it (stored in the job's spec for ``tessera explain``)."""

    variant: str
    reason: str
    optimize: str
    options: tuple[Option, ...] = field(default_factory=tuple)
    size: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"variant": self.variant, "reason": self.reason, "optimize": self.optimize, "size": self.size,
                "options": [asdict(o) for o in self.options]}

    def option(self, name: str) -> Option:
        return next(o for o in self.options if o.variant == name)


def choose(
    variants: Sequence[Variant],
    predicted_s: Mapping[str, float | None],
    wait_s: Mapping[str, float],
    usd_per_hour: Mapping[str, float],
    optimize: str = "time",
    deadline_s: float | None = None,
    max_cost_usd: float | None = None,
    size_label: str = "",
    count: int = 1,
    slots: Mapping[str, int] | None = None,
) -> Choice:
    """Choose a variant.

    Args:
        variants: the job's variants, in the user's order of preference.
        predicted_s: runtime per variant name (None: nothing measured).
        wait_s: seconds until a slot frees, per device kind (``cpu``, ``gpu``).
        usd_per_hour: the variant's share of its machine's price, per variant name.
        optimize: ``time`` or ``cost``.
        deadline_s: the latest acceptable finish, from now.
        max_cost_usd: the most a run may cost.
        size_label: ``n=4096``, for the explanation.
        count: how many runs (array elements); they go in waves of ``slots`` at once, so
            with 2 cores two 1-CPU runs take one wave and two 2-CPU runs take two (right-sizing).
        slots: runs of each variant that fit side by side on the machine (default 1).

    Raises:
        SpecError: no variant, or no variant meets the deadline or the cost limit.
    """
    if not variants:
        raise SpecError("placement needs at least one variant", "add --variant cpu:cpus=1 --variant gpu:gpus=1")
    opts = []
    for v in variants:
        p = predicted_s.get(v.name)
        rate = usd_per_hour.get(v.name, 0.0)
        w = wait_s.get(v.device, 0.0)
        waves = -(-max(count, 1) // max(1, (slots or {}).get(v.name, 1)))
        opts.append(Option(v.name, v.device, p, w, rate, None if p is None else w + waves * p,
                           None if p is None else count * rate * p / 3600.0))
    known = [o for o in opts if o.predicted_s is not None]
    if not known:
        first = opts[0]
        return Choice(first.variant, f"no runtime measured for any variant at {size_label or 'this size'}; "
                      f"took the first, {first.variant}", optimize, tuple(opts), size_label)
    ok = known
    if deadline_s is not None:
        ok = [o for o in ok if o.finish_s is not None and o.finish_s <= deadline_s]
    if max_cost_usd is not None:
        ok = [o for o in ok if o.usd is not None and o.usd <= max_cost_usd]
    if not ok:
        figures = "; ".join(f"{o.variant}: {o.finish_s:.3g} s, ${o.usd:.4f}" for o in known
                            if o.finish_s is not None and o.usd is not None)
        limits = " and ".join(x for x in (f"finish within {deadline_s:g} s" if deadline_s is not None else "",
                                          f"cost at most ${max_cost_usd:g}" if max_cost_usd is not None else "") if x)
        raise SpecError(f"no variant can {limits} ({figures})",
                        "relax --deadline or --max-cost, offer another variant, or lower --size")
    if optimize == "cost":
        best = min(ok, key=lambda o: (o.usd or 0.0, o.finish_s or 0.0))
    else:
        best = min(ok, key=lambda o: (o.finish_s or 0.0, o.usd or 0.0))
    return Choice(best.variant, _reason(best, known, optimize, size_label), optimize, tuple(opts), size_label)


def _reason(best: Option, known: Sequence[Option], optimize: str, size_label: str) -> str:
    """``gpu: 11× faster at n=4096, $0.003 vs $0.010`` (against the runner-up)."""
    others = [o for o in known if o.variant != best.variant]
    at = f" at {size_label}" if size_label else ""
    if not others:
        return f"{best.variant}: the only variant with a measured runtime{at}"
    other = min(others, key=lambda o: (o.usd or 0.0) if optimize == "cost" else (o.finish_s or 0.0))
    b_t, o_t = best.finish_s or 0.0, other.finish_s or 0.0
    speed = f"{o_t / b_t:.3g}× faster" if b_t > 0 and o_t >= b_t else f"{b_t / o_t:.3g}× slower" if o_t > 0 else "as fast"
    wait = f" (incl. {best.wait_s:.3g} s queue wait)" if best.wait_s > 0 else ""
    return (f"{best.variant}: {speed}{at}{wait}, {usd(best.usd)} vs {usd(other.usd)} "
            f"for {other.variant}; optimizing {optimize}")


def usd(x: float | None) -> str:
    """Dollars for people: cents above a dollar, six decimals below (no exponents)."""
    x = x or 0.0
    return f"${x:,.2f}" if x >= 1 else f"${x:.6f}"
