"""Finance: Monte Carlo prices within their standard error of Black-Scholes; VaR vs closed form."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import norm

from tessera.domains import finance as F
from tessera.errors import SpecError
from tessera.kernels import run_job

CASES = [
    dict(spot=100.0, strike=100.0, maturity=1.0, rate=0.05, sigma=0.2, kind="call"),
    dict(spot=100.0, strike=120.0, maturity=0.5, rate=0.01, sigma=0.35, kind="call"),
    dict(spot=90.0, strike=100.0, maturity=2.0, rate=0.03, sigma=0.25, kind="put"),
]


def test_black_scholes_known_value_and_put_call_parity() -> None:
    assert F.black_scholes(100, 100, 1.0, 0.05, 0.2) == pytest.approx(10.450583572185565, abs=1e-9)
    call = F.black_scholes(90, 100, 2.0, 0.03, 0.25, "call")
    put = F.black_scholes(90, 100, 2.0, 0.03, 0.25, "put")
    assert call - put == pytest.approx(90 - 100 * np.exp(-0.06), abs=1e-9)


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("antithetic", [False, True])
def test_mc_price_is_within_its_standard_error_of_black_scholes(
    case: dict, antithetic: bool
) -> None:
    est = F.mc_price(**case, paths=400_000, antithetic=antithetic, seed=11, chunk=150_000)
    exact = F.black_scholes(**case)
    # 4 standard errors: a correct estimator fails this with probability 6e-5 (fixed seed here).
    assert abs(est.value - exact) <= 4 * est.stderr, (est, exact)
    assert est.stderr < 0.01 * exact  # and the bound is tight enough to mean something


def test_mc_price_over_many_steps_equals_one_step_in_law() -> None:
    est = F.mc_price(paths=100_000, steps=12, seed=5)
    assert abs(est.value - F.black_scholes(100, 100, 1.0, 0.05, 0.2)) <= 4 * est.stderr


def test_mc_price_torch_matches_numpy() -> None:
    pytest.importorskip("torch")
    a = F.mc_price(paths=50_000, seed=2)
    b = F.mc_price(paths=50_000, seed=2, backend="torch")
    assert b.value == pytest.approx(a.value, rel=1e-5)


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_mc_option_kernel_agrees_with_reference(backend: str) -> None:
    if backend == "torch":
        pytest.importorskip("torch")
    out = run_job("mc_option", {"paths": 20_000, "steps": 8, "repeat": 1, "backend": backend})
    assert out["ok"] is True and out["checksum"] > 0
    assert out["bytes"] == 20_000 * 9 * 4 and out["flops"] == 20_000 * 15


POS = np.array([1e6, 2e6, -5e5])
MU = np.array([0.05, 0.08, 0.02])
VOL = np.array([0.2, 0.3, 0.15])
CORR = np.array([[1.0, 0.5, 0.2], [0.5, 1.0, -0.1], [0.2, -0.1, 1.0]])
COV = CORR * np.outer(VOL, VOL)


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_linear_portfolio_var_matches_the_normal_closed_form(backend: str) -> None:
    if backend == "torch":
        pytest.importorskip("torch")
    risk = F.portfolio_var(POS, MU, COV, paths=200_000, linear=True, seed=3, backend=backend)
    var, es = F.normal_var(POS, MU, COV)
    assert abs(risk.var - var) <= 4 * risk.var_stderr, (risk, var)
    assert risk.var_stderr < 0.01 * var
    assert risk.es == pytest.approx(es, rel=0.02)


def test_single_asset_lognormal_var_matches_its_closed_form() -> None:
    # Long 1e6 in one asset: loss = 1e6 (1 - exp(R)), R ~ N(m h, s^2 h), so
    # VaR_q = 1e6 (1 - exp(m h - s sqrt(h) z_q)) exactly.
    h, m, s, q = 10 / 252, 0.07, 0.4, 0.99
    risk = F.portfolio_var([1e6], [m], [[s * s]], horizon=h, confidence=q, paths=200_000, seed=8)
    exact = 1e6 * (1 - np.exp(m * h - s * np.sqrt(h) * norm.ppf(q)))
    assert abs(risk.var - exact) <= 4 * risk.var_stderr, (risk, exact)


def test_bad_inputs_are_refused_with_a_fix() -> None:
    with pytest.raises(SpecError, match="To fix:"):
        F.mc_price(kind="straddle")
    with pytest.raises(SpecError, match="To fix:"):
        F.mc_price(sigma=-0.1)
    with pytest.raises(SpecError, match="positive definite"):
        F.portfolio_var(POS, MU, -COV)
    with pytest.raises(SpecError, match="3 positions need 3 drifts"):
        F.portfolio_var(POS, MU[:2], COV)
    with pytest.raises(SpecError, match="confidence"):
        F.portfolio_var(POS, MU, COV, confidence=1.5)
