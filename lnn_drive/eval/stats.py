"""Statistics for closed-loop results: rates with exact intervals, tests, detectable effects.

Interventions are counted over kilometres, so a model's intervention rate is a Poisson
rate. What the benchmark reports:

* :func:`poisson_rate_ci`: interventions/km with the exact (Garwood 1936) interval, which
  stays honest at zero events (0 in 20 km: [0, 0.184]/km).
* :func:`autonomy_unclamped`: PilotNet autonomy without the clamp at 0, so 45
  interventions/km in winter reads as the large negative number it is.
* :func:`wilson_interval`: success rates (the drone's reach-the-goal rate).
* Comparing NCP with a baseline, two tests, because the kilometres are not independent:
  every kilometre of one model comes from one of a few *training seeds*, and seeds differ
  (clustering). :func:`seed_permutation_test` is the primary test: an exact two-sided
  permutation test on the per-seed rates (the seed is the unit of replication; with 5
  seeds a side the smallest attainable p is 2/252 = 0.0079). :func:`poisson_rate_test`,
  the conditional binomial test for two Poisson rates on the pooled counts, is reported
  beside it; it is exact only if seeds do not differ, so :func:`dispersion_test` checks
  that (a chi-square test of the per-seed counts against one common rate) and the report
  says which to trust.
* :func:`detectable_difference`: the smallest rate difference a run of a given length can
  detect at 80% power and two-sided alpha 0.05 (normal approximation to the conditional
  test; it reproduces "1 vs 2 interventions/km needs about 24 km per arm").
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as _st

from lnn_drive.eval.metrics import INTERVENTION_PENALTY_S


@dataclass(frozen=True)
class RateCI:
    """A rate (events per unit exposure) with its confidence interval."""

    events: int
    exposure: float
    rate: float
    low: float
    high: float


def _check_count(k: int | float, name: str) -> int:
    if k < 0 or int(k) != k:
        raise ValueError(f"{name} must be a non-negative integer, got {k}")
    return int(k)


def poisson_rate_ci(events: int, exposure: float, level: float = 0.95) -> RateCI:
    """Exact (Garwood) confidence interval of a Poisson rate ``events / exposure``.

    ``low = chi2(a/2; 2k) / 2E``, ``high = chi2(1 - a/2; 2k + 2) / 2E`` (``low = 0`` at k=0).
    """
    k = _check_count(events, "events")
    if not exposure > 0:
        raise ValueError(f"exposure must be positive, got {exposure}")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    a = 1 - level
    low = 0.0 if k == 0 else float(_st.chi2.ppf(a / 2, 2 * k)) / 2
    high = float(_st.chi2.ppf(1 - a / 2, 2 * k + 2)) / 2
    return RateCI(k, float(exposure), k / exposure, low / exposure, high / exposure)


def autonomy_unclamped(interventions: int, elapsed_s: float) -> float:
    """PilotNet autonomy ``1 - interventions * 6 s / elapsed`` without the clamp at 0."""
    if not elapsed_s > 0:
        raise ValueError(f"elapsed time must be positive, got {elapsed_s}")
    return 1.0 - _check_count(interventions, "interventions") * INTERVENTION_PENALTY_S / elapsed_s


def wilson_interval(successes: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion ``successes / n``."""
    s, n = _check_count(successes, "successes"), _check_count(n, "n")
    if n == 0 or s > n:
        raise ValueError(f"need 0 <= successes <= n and n > 0, got {s}/{n}")
    z = float(_st.norm.ppf(0.5 + level / 2))
    p = s / n
    den = 1 + z * z / n
    mid = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return max(0.0, mid - half), min(1.0, mid + half)


def poisson_rate_test(k1: int, e1: float, k2: int, e2: float) -> float:
    """Two-sided exact conditional test of equal Poisson rates (k1 events in exposure e1
    against k2 in e2): given ``k1 + k2``, ``k1 ~ Binomial(k1 + k2, e1 / (e1 + e2))``.
    Returns the p-value (1.0 when there are no events at all)."""
    k1, k2 = _check_count(k1, "k1"), _check_count(k2, "k2")
    if not (e1 > 0 and e2 > 0):
        raise ValueError(f"exposures must be positive, got {e1}, {e2}")
    if k1 + k2 == 0:
        return 1.0
    return float(_st.binomtest(k1, k1 + k2, e1 / (e1 + e2)).pvalue)


def seed_permutation_test(a: Sequence[float], b: Sequence[float]) -> float:
    """Exact two-sided permutation test of equal means of per-seed values ``a`` and ``b``
    (all ``C(n_a + n_b, n_a)`` relabellings; p counts those at least as extreme)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if len(a) < 1 or len(b) < 1:
        raise ValueError("each group needs at least one seed")
    pooled = np.concatenate([a, b])
    n, na = len(pooled), len(a)
    if math.comb(n, na) > 200_000:
        raise ValueError(f"{math.comb(n, na)} relabellings: too many for an exact test")
    observed = abs(a.mean() - b.mean())
    total = pooled.sum()
    extreme = count = 0
    for idx in itertools.combinations(range(n), na):
        sa = pooled[list(idx)].sum()
        diff = abs(sa / na - (total - sa) / (n - na))
        extreme += diff >= observed - 1e-12 * max(1.0, observed)
        count += 1
    return extreme / count


def dispersion_test(events: Sequence[int], exposures: Sequence[float]) -> float:
    """p-value of the chi-square test that per-seed counts share one Poisson rate
    (small p: seeds differ, so pooled-count tests are anti-conservative)."""
    k = np.asarray([_check_count(e, "events") for e in events], np.float64)
    e = np.asarray(exposures, np.float64)
    if len(k) != len(e) or len(k) < 2:
        raise ValueError("need per-seed counts and exposures for at least 2 seeds")
    expected = k.sum() * e / e.sum()
    if k.sum() == 0:
        return 1.0
    chi2 = float(((k - expected) ** 2 / expected).sum())
    return float(_st.chi2.sf(chi2, len(k) - 1))


def _z_sum(alpha: float, power: float) -> float:
    return float(_st.norm.ppf(1 - alpha / 2) + _st.norm.ppf(power))


def required_exposure(
    rate0: float, rate1: float, *, alpha: float = 0.05, power: float = 0.8
) -> float:
    """Exposure per arm to tell ``rate0`` from ``rate1`` (normal approximation to the
    conditional test, null variance at the mean rate): ``(z_a/2 + z_b)^2 (r0 + r1) / (r1 - r0)^2``."""
    if rate0 < 0 or rate1 < 0 or rate0 == rate1:
        raise ValueError(f"need two different non-negative rates, got {rate0}, {rate1}")
    return _z_sum(alpha, power) ** 2 * (rate0 + rate1) / (rate1 - rate0) ** 2


def detectable_difference(
    rate: float, exposure: float, *, alpha: float = 0.05, power: float = 0.8
) -> float:
    """Smallest increase over ``rate`` detectable with ``exposure`` per arm: the positive
    root of ``d^2 = c (2 rate + d) / E`` with ``c = (z_a/2 + z_b)^2`` (inverse of
    :func:`required_exposure`)."""
    if rate < 0 or not exposure > 0:
        raise ValueError(f"need rate >= 0 and exposure > 0, got {rate}, {exposure}")
    c = _z_sum(alpha, power) ** 2 / exposure
    return 0.5 * (c + math.sqrt(c * c + 8 * c * rate))


def fisher_exact_test(k1: int, n1: int, k2: int, n2: int) -> float:
    """Two-sided p-value of Fisher's exact test that ``k1`` successes in ``n1`` trials and
    ``k2`` in ``n2`` come from one success probability (episodes as independent trials)."""
    for k, n in ((k1, n1), (k2, n2)):
        if not (0 <= _check_count(k, "successes") <= _check_count(n, "trials") and n > 0):
            raise ValueError(f"need 0 <= successes <= trials and trials > 0, got {k}, {n}")
    table = [[k1, n1 - k1], [k2, n2 - k2]]
    return float(_st.fisher_exact(table, alternative="two-sided").pvalue)


def detectable_proportion_difference(
    p: float, n: int, *, alpha: float = 0.05, power: float = 0.8
) -> float:
    """Smallest change of a success rate ``p`` that two arms of ``n`` trials each detect
    with ``power`` at two-sided ``alpha`` (arcsine transform: Cohen's
    ``h = (z_a/2 + z_b) sqrt(2 / n)``), in the direction with more room (a rate of 100%
    can only fall)."""
    if not 0 <= p <= 1 or n < 1:
        raise ValueError(f"need 0 <= p <= 1 and n >= 1, got {p}, {n}")
    h = _z_sum(alpha, power) * math.sqrt(2 / n)
    phi = 2 * math.asin(math.sqrt(p))
    out = []
    for target in (phi - h, phi + h):
        if 0 <= target <= math.pi:
            out.append(abs(math.sin(target / 2) ** 2 - p))
    return min(out) if out else 1.0


@dataclass(frozen=True, kw_only=True)
class SeedResult:
    """One (model, training seed, condition) evaluation."""

    model: str
    seed: int
    condition: str
    interventions: int
    km: float
    elapsed_s: float

    def __post_init__(self) -> None:
        _check_count(self.interventions, "interventions")
        if not (self.km > 0 and self.elapsed_s > 0):
            raise ValueError(f"{self.model}/{self.seed}/{self.condition}: km and time must be > 0")


def per_seed_table(results: Sequence[SeedResult]) -> str:
    """Markdown: one row per (model, seed, condition) with interventions/km, its Garwood
    95% interval and unclamped autonomy."""
    lines = [
        "| model | seed | condition | km | interventions | per km [95% CI] | autonomy |",
        "| --- | ---: | --- | ---: | ---: | --- | ---: |",
    ]
    for r in sorted(results, key=lambda r: (r.condition, r.model, r.seed)):
        ci = poisson_rate_ci(r.interventions, r.km)
        lines.append(
            f"| {r.model} | {r.seed} | {r.condition} | {r.km:.1f} | {r.interventions} | "
            f"{ci.rate:.3f} [{ci.low:.3f}, {ci.high:.3f}] | "
            f"{autonomy_unclamped(r.interventions, r.elapsed_s):.1%} |"
        )
    return "\n".join(lines)


def comparison_table(results: Sequence[SeedResult], *, reference: str = "ncp_cfc") -> str:
    """Markdown: per condition, ``reference`` against every other model: pooled rates with
    Garwood intervals, the seed-level permutation p (primary), the pooled conditional
    binomial p with the dispersion check, and the smallest detectable difference."""
    lines = [
        f"| condition | model | per km [95% CI] | {reference} per km | seed-level p | "
        "pooled p | seeds differ (dispersion p) | detectable difference /km |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    conds = sorted({r.condition for r in results})
    for cond in conds:
        rows = [r for r in results if r.condition == cond]
        ref = [r for r in rows if r.model == reference]
        if not ref:
            continue
        k0, e0 = sum(r.interventions for r in ref), sum(r.km for r in ref)
        for model in sorted({r.model for r in rows} - {reference}):
            other = [r for r in rows if r.model == model]
            k1, e1 = sum(r.interventions for r in other), sum(r.km for r in other)
            ci = poisson_rate_ci(k1, e1)
            p_seed = seed_permutation_test(
                [r.interventions / r.km for r in ref], [r.interventions / r.km for r in other]
            )
            both = ref + other
            disp = (
                dispersion_test([r.interventions for r in other], [r.km for r in other])
                if len(other) > 1
                else float("nan")
            )
            if len(both) > 2 and len(ref) > 1:
                disp = min(
                    disp, dispersion_test([r.interventions for r in ref], [r.km for r in ref])
                )
            mdd = detectable_difference(min(k0 / e0, k1 / e1), min(e0, e1))
            lines.append(
                f"| {cond} | {model} | {ci.rate:.3f} [{ci.low:.3f}, {ci.high:.3f}] | "
                f"{k0 / e0:.3f} | {p_seed:.3g} | {poisson_rate_test(k0, e0, k1, e1):.3g} | "
                f"{disp:.3g} | {mdd:.3f} |"
            )
    return "\n".join(lines)


def seed_results(
    runs_by_model: dict[str, list[dict]], conditions: Sequence[str]
) -> list[SeedResult]:
    """:class:`SeedResult` rows from benchmark runs (``{model: [run, ...]}``, each run with
    ``seed`` and ``metrics[condition]`` holding ``interventions``, ``distance_km`` and
    ``elapsed_s``); runs without those keys are skipped."""
    out = []
    for model, runs in runs_by_model.items():
        for i, run in enumerate(runs):
            for c in conditions:
                m = run.get("metrics", {}).get(c, {})
                if not {"interventions", "distance_km", "elapsed_s"} <= set(m):
                    continue
                out.append(
                    SeedResult(
                        model=model,
                        seed=int(run.get("seed", i)),
                        condition=c,
                        interventions=int(m["interventions"]),
                        km=float(m["distance_km"]),
                        elapsed_s=float(m["elapsed_s"]),
                    )
                )
    return out


def rates_table(results: Sequence[SeedResult], conditions: Sequence[str] = ()) -> str:
    """Markdown: per model and condition, the seeds, kilometres and interventions pooled
    over seeds, with the Garwood 95% interval of the pooled rate."""
    lines = [
        "| model | condition | seeds | km | interventions | per km [95% CI] |",
        "| --- | --- | ---: | ---: | ---: | --- |",
    ]
    order = {c: i for i, c in enumerate(conditions)}
    models = list(dict.fromkeys(r.model for r in results))
    conds = sorted({r.condition for r in results}, key=lambda c: (order.get(c, len(order)), c))
    for model in models:
        for cond in conds:
            rows = [r for r in results if r.model == model and r.condition == cond]
            if not rows:
                continue
            k, e = sum(r.interventions for r in rows), sum(r.km for r in rows)
            ci = poisson_rate_ci(k, e)
            lines.append(
                f"| {model} | {cond} | {len(rows)} | {e:.1f} | {k} | "
                f"{ci.rate:.3f} [{ci.low:.3f}, {ci.high:.3f}] |"
            )
    return "\n".join(lines)


def statistics_section(
    runs_by_model: dict[str, list[dict]], conditions: Sequence[str], *, reference: str
) -> list[str]:
    """Markdown lines of the benchmark report's statistics: the comparison of
    ``reference`` with every other model, then the per-seed table (empty if the runs do
    not carry counts)."""
    rows = seed_results(runs_by_model, conditions)
    if not rows or reference not in {r.model for r in rows}:
        return []
    if len({r.model for r in rows}) < 2:  # nothing to test against yet
        return [
            "## Statistics: interventions/km with exact 95% intervals",
            "",
            "Intervals: Garwood (exact Poisson), pooled over seeds. Only one model has "
            "finished runs, so there is no test yet.",
            "",
            rates_table(rows, conditions),
            "",
            "Per seed (autonomy unclamped):",
            "",
            per_seed_table(rows),
            "",
        ]
    return [
        "## Statistics: interventions/km with exact 95% intervals, tests against " + reference,
        "",
        "Intervals: Garwood (exact Poisson). Seed-level p: exact two-sided permutation test on "
        "per-seed rates (the training seed is the unit of replication; primary). Pooled p: "
        "conditional binomial test on the pooled counts, valid only where seeds do not differ "
        "(dispersion p large). Detectable difference: smallest increase over the lower rate "
        "detectable at 80% power, alpha 0.05, with this run's kilometres.",
        "",
        comparison_table(rows, reference=reference),
        "",
        "Per seed (autonomy unclamped):",
        "",
        per_seed_table(rows),
        "",
    ]


__all__ = [
    "RateCI",
    "SeedResult",
    "autonomy_unclamped",
    "comparison_table",
    "detectable_difference",
    "detectable_proportion_difference",
    "dispersion_test",
    "fisher_exact_test",
    "per_seed_table",
    "poisson_rate_ci",
    "poisson_rate_test",
    "rates_table",
    "required_exposure",
    "seed_permutation_test",
    "seed_results",
    "statistics_section",
    "wilson_interval",
]
