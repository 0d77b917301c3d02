"""Finance: Black-Scholes prices, Monte Carlo option prices, and portfolio value-at-risk.

Monte Carlo runs through the ``mc_option`` kernel's payoff code (NumPy, or PyTorch on
``cpu``/``cuda``) in chunks of at most ``chunk`` paths, so memory stays bounded for any path
count. Every estimate comes with its standard error; validation is against Black-Scholes
(prices) and the closed-form normal value-at-risk (linear portfolios).
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy.stats import norm

from tessera.errors import SpecError
from tessera.kernels import mc_option
from tessera.kernels.backends import make_ops, resolve_target

logger = logging.getLogger(__name__)


def black_scholes(
    spot: float, strike: float, maturity: float, rate: float, sigma: float, kind: str = "call"
) -> float:
    """The Black-Scholes price of a European call or put (no dividends)."""
    d1 = (math.log(spot / strike) + (rate + 0.5 * sigma**2) * maturity) / (
        sigma * math.sqrt(maturity)
    )
    d2 = d1 - sigma * math.sqrt(maturity)
    disc = math.exp(-rate * maturity)
    if kind == "call":
        return float(spot * norm.cdf(d1) - strike * disc * norm.cdf(d2))
    return float(strike * disc * norm.cdf(-d2) - spot * norm.cdf(-d1))


@dataclass(frozen=True)
class Estimate:
    """A Monte Carlo estimate: ``value`` with ``stderr`` from ``paths`` samples."""

    value: float
    stderr: float
    paths: int

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)


def mc_price(
    spot: float = 100.0,
    strike: float = 100.0,
    maturity: float = 1.0,
    rate: float = 0.05,
    sigma: float = 0.2,
    kind: str = "call",
    paths: int = 1_000_000,
    steps: int = 1,
    antithetic: bool = True,
    seed: int = 0,
    chunk: int = 1 << 20,
    device: str = "cpu",
    backend: str | None = None,
    dtype: str = "float32",
) -> Estimate:
    """Monte Carlo price of a European option under geometric Brownian motion.

    With ``antithetic``, each draw ``Z`` is also used as ``-Z`` and the pair's mean payoff is
    one sample (``paths`` counts pairs then), which lowers the variance for monotone payoffs.

    Raises:
        SpecError: non-positive inputs or an unknown option kind.
    """
    p = mc_option.KERNEL.resolve(
        {"paths": paths, "steps": steps, "spot": spot, "strike": strike, "maturity": maturity,
         "rate": rate, "sigma": sigma, "kind": kind, "dtype": dtype}
    )  # fmt: skip
    if chunk < 1:
        raise SpecError(f"chunk={chunk} must be positive", "give chunk >= 1")
    ops = make_ops(resolve_target(device, backend))
    rng = np.random.default_rng(seed)
    total = total_sq = 0.0
    done = 0
    while done < paths:
        n = min(chunk, paths - done)
        z = ops.to_device(rng.standard_normal((n, steps)).astype(dtype))
        pay = mc_option.payoffs(ops, z, p)
        if antithetic:
            pay = (pay + mc_option.payoffs(ops, -z, p)) * 0.5
        host = np.asarray(ops.to_host(pay), dtype=np.float64)
        total += float(host.sum())
        total_sq += float(np.dot(host, host))
        done += n
    mean = total / paths
    var = max(total_sq / paths - mean**2, 0.0) * paths / max(paths - 1, 1)
    return Estimate(mean, math.sqrt(var / paths), paths)


@dataclass(frozen=True)
class Risk:
    """Portfolio loss statistics over one horizon (losses are positive numbers).

    Attributes:
        var: value-at-risk at ``confidence``: the loss exceeded with probability
            ``1 - confidence``.
        es: expected shortfall: the mean loss beyond the VaR.
        var_stderr: standard error of the VaR quantile (from the loss density at the VaR).
        mean_loss: expected loss.
        paths: scenarios simulated.
        confidence: e.g. 0.99.
    """

    var: float
    es: float
    var_stderr: float
    mean_loss: float
    paths: int
    confidence: float

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)


def portfolio_var(
    positions: np.ndarray | list[float],
    mu: np.ndarray | list[float],
    cov: np.ndarray | list[list[float]],
    horizon: float = 10 / 252,
    confidence: float = 0.99,
    paths: int = 200_000,
    linear: bool = False,
    seed: int = 0,
    device: str = "cpu",
    backend: str | None = None,
    dtype: str = "float64",
) -> Risk:
    """Monte Carlo VaR and expected shortfall of a portfolio of assets.

    Asset log-returns over ``horizon`` years are normal with mean ``mu * horizon`` and
    covariance ``cov * horizon`` (correlated through a Cholesky factor). The loss is
    ``-sum(positions * (exp(R) - 1))``, or ``-sum(positions * R)`` with ``linear`` (for which
    ``normal_var`` is exact).

    Raises:
        SpecError: shapes that do not match, a covariance that is not positive definite, or a
            confidence outside (0, 1).
    """
    losses = simulate_losses(
        positions, mu, cov, horizon, paths, linear, seed, device, backend, dtype
    )
    return risk_of(losses, confidence)


def simulate_losses(
    positions: np.ndarray | list[float],
    mu: np.ndarray | list[float],
    cov: np.ndarray | list[list[float]],
    horizon: float = 10 / 252,
    paths: int = 200_000,
    linear: bool = False,
    seed: int = 0,
    device: str = "cpu",
    backend: str | None = None,
    dtype: str = "float64",
) -> np.ndarray:
    """``paths`` simulated portfolio losses over ``horizon`` (see ``portfolio_var``)."""
    pos = np.asarray(positions, dtype=np.float64).reshape(-1)
    mu_a = np.asarray(mu, dtype=np.float64).reshape(-1)
    cov_a = np.asarray(cov, dtype=np.float64)
    n = pos.size
    if mu_a.size != n or cov_a.shape != (n, n):
        raise SpecError(
            f"{n} positions need {n} drifts and a {n} x {n} covariance, got {mu_a.size} and "
            f"{cov_a.shape}",
            "give one drift per asset and a square covariance matrix of the same order",
        )
    if paths < 1:
        raise SpecError(f"paths={paths} must be positive", "give paths >= 1")
    try:
        chol = np.linalg.cholesky(cov_a * horizon)
    except np.linalg.LinAlgError:
        raise SpecError(
            "the covariance matrix is not positive definite",
            "give a symmetric positive-definite covariance (check for duplicated assets)",
        ) from None
    ops = make_ops(resolve_target(device, backend))
    mod = mc_option.xp(ops)
    rng = np.random.default_rng(seed)
    z = ops.to_device(rng.standard_normal((paths, n)).astype(dtype))
    returns = z @ ops.to_device(chol.T.astype(dtype)) + ops.to_device(
        (mu_a * horizon).astype(dtype)
    )
    growth = returns if linear else mod.expm1(returns)
    loss = -(growth @ ops.to_device(pos.astype(dtype)))
    return np.asarray(ops.to_host(loss), dtype=np.float64)


def risk_of(losses: np.ndarray | list[np.ndarray], confidence: float = 0.99) -> Risk:
    """VaR, expected shortfall and the VaR's standard error from simulated losses.

    Args:
        losses: one array, or several (e.g. from independent seeds) pooled together.
        confidence: e.g. 0.99.

    Raises:
        SpecError: no losses, or a confidence outside (0, 1).
    """
    if not 0.0 < confidence < 1.0:
        raise SpecError(f"confidence {confidence} is not in (0, 1)", "give e.g. 0.99")
    parts = losses if isinstance(losses, list) else [losses]
    flat = [np.asarray(x, np.float64).reshape(-1) for x in parts]
    pooled = np.concatenate(flat) if flat else np.zeros(0)
    if pooled.size == 0:
        raise SpecError("there are no simulated losses", "simulate at least one scenario")
    ordered = np.sort(pooled)
    paths = len(ordered)
    k = min(paths - 1, int(math.ceil(confidence * paths)) - 1)
    var = float(ordered[k])
    # Quantile standard error sqrt(q (1 - q) / n) / f(VaR), f from the spacing of order statistics.
    h = max(1, int(math.sqrt(paths) / 2))
    lo, hi = max(0, k - h), min(paths - 1, k + h)
    gap = max(float(ordered[hi] - ordered[lo]), np.finfo(np.float64).tiny)
    stderr = math.sqrt(confidence * (1 - confidence) / paths) * gap * paths / max(hi - lo, 1)
    return Risk(var, float(ordered[k:].mean()), stderr, float(ordered.mean()), paths, confidence)


def normal_var(
    positions: np.ndarray,
    mu: np.ndarray,
    cov: np.ndarray,
    horizon: float = 10 / 252,
    confidence: float = 0.99,
) -> tuple[float, float]:
    """Closed-form VaR and expected shortfall of the linear loss ``-positions . R``."""
    pos = np.asarray(positions, dtype=np.float64)
    mean = -float(pos @ np.asarray(mu, dtype=np.float64)) * horizon
    sd = math.sqrt(float(pos @ np.asarray(cov, dtype=np.float64) @ pos) * horizon)
    z = float(norm.ppf(confidence))
    return mean + z * sd, mean + sd * float(norm.pdf(z)) / (1 - confidence)
