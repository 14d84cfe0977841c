"""Statistics against published values and scipy's own implementations."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as st

from lnn_drive.eval.stats import (
    SeedResult,
    autonomy_unclamped,
    comparison_table,
    detectable_difference,
    dispersion_test,
    per_seed_table,
    poisson_rate_ci,
    poisson_rate_test,
    required_exposure,
    seed_permutation_test,
    wilson_interval,
)


@pytest.mark.parametrize(
    ("k", "low", "high"),
    # Garwood (1936) exact 95% limits, as tabulated e.g. by Ulm (1990)
    [(0, 0.0, 3.689), (1, 0.0253, 5.572), (2, 0.2422, 7.225), (10, 4.795, 18.39)],
)
def test_garwood_interval_matches_the_table(k: int, low: float, high: float) -> None:
    ci = poisson_rate_ci(k, 1.0)
    assert ci.low == pytest.approx(low, abs=6e-4)
    assert ci.high == pytest.approx(high, abs=6e-3)
    per_km = poisson_rate_ci(k, 20.0)  # the same counts over 20 km
    assert per_km.high == pytest.approx(ci.high / 20, rel=1e-12)
    assert per_km.rate == k / 20


def test_zero_events_in_20_km() -> None:
    assert poisson_rate_ci(0, 20.0).high == pytest.approx(0.1844, abs=1e-4)


def test_autonomy_is_not_clamped() -> None:
    assert autonomy_unclamped(0, 600.0) == 1.0
    assert autonomy_unclamped(10, 600.0) == pytest.approx(0.9)
    assert autonomy_unclamped(450, 600.0) == pytest.approx(-3.5)
    with pytest.raises(ValueError):
        autonomy_unclamped(-1, 10.0)


def test_wilson_interval_known_values() -> None:
    lo, hi = wilson_interval(81, 263)  # Newcombe (1998), example (a)
    assert (lo, hi) == pytest.approx((0.2553, 0.3662), abs=1e-4)
    lo, hi = wilson_interval(0, 10)
    assert lo == 0.0 and hi == pytest.approx(0.2775, abs=1e-4)
    with pytest.raises(ValueError):
        wilson_interval(11, 10)


def test_conditional_poisson_test() -> None:
    assert poisson_rate_test(10, 1.0, 2, 1.0) == pytest.approx(st.binomtest(10, 12, 0.5).pvalue)
    assert poisson_rate_test(10, 1.0, 2, 1.0) == pytest.approx(0.03857, abs=1e-5)
    # unequal exposure: 4 events in 10 km against 8 in 20 km is no difference at all
    assert poisson_rate_test(4, 10.0, 8, 20.0) == pytest.approx(1.0)
    assert poisson_rate_test(0, 5.0, 0, 5.0) == 1.0


def test_seed_permutation_test_is_exact() -> None:
    assert seed_permutation_test([1, 2, 3], [4, 5, 6]) == pytest.approx(2 / 20)
    assert seed_permutation_test([1, 2, 3, 4, 5], [6, 7, 8, 9, 10]) == pytest.approx(2 / 252)
    rng = np.random.default_rng(0)
    a, b = rng.normal(0, 1, 5), rng.normal(1, 1, 5)
    ref = st.permutation_test(
        (a, b),
        lambda x, y: np.mean(x) - np.mean(y),
        permutation_type="independent",
        n_resamples=np.inf,
        alternative="two-sided",
    ).pvalue
    assert seed_permutation_test(a, b) == pytest.approx(ref)


def test_dispersion_test() -> None:
    assert dispersion_test([10, 10, 10], [1, 1, 1]) == pytest.approx(1.0)
    assert dispersion_test([0, 0, 30], [1, 1, 1]) < 1e-6
    k, e = [3, 9, 5], [1.0, 2.0, 1.5]
    exp = np.array(e) * sum(k) / sum(e)
    chi2 = ((np.array(k) - exp) ** 2 / exp).sum()
    assert dispersion_test(k, e) == pytest.approx(st.chi2.sf(chi2, 2))


def test_detectable_difference_inverts_required_exposure() -> None:
    # the figure: 1 vs 2 interventions/km at 80% power needs about 24 km per arm
    km = required_exposure(1.0, 2.0)
    assert km == pytest.approx(23.5, abs=0.1)
    assert detectable_difference(1.0, km) == pytest.approx(1.0)
    # zero baseline: d = (z + z)^2 / E
    assert detectable_difference(0.0, 20.0) == pytest.approx((1.959964 + 0.841621) ** 2 / 20)
    assert detectable_difference(1.0, 100.0) < detectable_difference(1.0, 20.0)


def test_tables() -> None:
    rows = [
        SeedResult(model=m, seed=s, condition="clean", interventions=k, km=20.0, elapsed_s=2000)
        for m, ks in (("ncp_cfc", [0, 1, 0, 2, 1]), ("feedforward", [9, 7, 12, 8, 10]))
        for s, k in enumerate(ks)
    ]
    t = per_seed_table(rows)
    assert t.count("\n") == 11 and "| feedforward | 2 | clean | 20.0 | 12 |" in t
    c = comparison_table(rows, reference="ncp_cfc")
    assert "| clean | feedforward | 0.460 [" in c
    assert "0.00794" in c  # all 5 NCP seeds below all 5 CNN seeds: p = 2/252
    with pytest.raises(ValueError):
        SeedResult(model="x", seed=0, condition="c", interventions=1, km=0.0, elapsed_s=1)
