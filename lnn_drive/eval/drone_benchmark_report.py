"""The drone benchmark's report, regenerated from its stored result JSONs alone.

Success is a binary outcome per flight, so every figure is a count over episodes: pooled
over seeds with a Wilson 95% interval, and per seed. The reference NCP is compared with
each baseline in each condition two ways: the exact permutation test over training seeds
(the seed is the unit: it carries the training variance) and Fisher's exact test on the
pooled episodes (which treats every flight as independent and so is anti-conservative
when seeds differ). The report states the smallest difference the run could detect.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lnn_drive.eval.drone import condition_name
from lnn_drive.eval.drone_benchmark import DRONE_MODEL_NAMES
from lnn_drive.eval.stats import (
    detectable_proportion_difference,
    fisher_exact_test,
    seed_permutation_test,
    wilson_interval,
)

#: Conditions that count as in distribution (the training season, clean).
IN_DISTRIBUTION = "summer"


def _name(model: str) -> str:
    return DRONE_MODEL_NAMES.get(model, model)


def load_drone_results(root: str | Path) -> dict[str, Any]:
    """Every stored result under ``root`` grouped by run.

    Returns:
        ``{"runs": {(model, seed): {"run": ..., "metrics": {condition: ...}, "expected":
        [conditions], "codes": {code versions}}}, "conditions": [in order]}``.

    Raises:
        FileNotFoundError: no result JSON under ``root``.
        ValueError: a file that is not a drone benchmark result (named).
    """
    root = Path(root)
    files = sorted(p for p in root.glob("*.json") if not p.name.startswith("."))
    if not files:
        raise FileNotFoundError(f"results={root}: no result JSON files there")
    runs: dict[tuple[str, int], dict[str, Any]] = {}
    order: list[str] = []
    for p in files:
        try:
            doc = json.loads(p.read_text())
            prov, res = doc["provenance"], doc["result"]
            model, seed, cond = str(prov["model"]), int(prov["seed"]), str(prov["condition"])
            ev = prov["config"]["eval"]
            if prov["config"].get("task") != "drone":
                raise KeyError("task is not drone")
        except (ValueError, KeyError, TypeError) as e:
            raise ValueError(f"{p}: not a drone benchmark result ({e})") from e
        expected = [condition_name(s, v) for s in ev["seasons"] for v in ev["noise_variances"]]
        for c in expected:
            if c not in order:
                order.append(c)
        r = runs.setdefault(
            (model, seed),
            {"run": res["run"], "metrics": {}, "expected": expected, "codes": set()},
        )
        r["metrics"][cond] = res["metrics"]
        r["codes"].add(str(prov.get("code")))
    return {"runs": runs, "conditions": order}


def _pct(x: float) -> str:
    return "n/a" if x is None or not math.isfinite(x) else f"{x:.1%}"


def _ci(k: int, n: int) -> str:
    lo, hi = wilson_interval(k, n)
    return f"{k / n:.1%} [{lo:.1%}, {hi:.1%}]"


def _p(x: float) -> str:
    return f"{x:.3f}" if x >= 0.001 else f"{x:.1e}"


def drone_report(
    loaded: dict[str, Any],
    *,
    reference: str,
    expect_models: Sequence[str] = (),
    expect_seeds: Sequence[int] = (),
    command: str = "",
    figure: Path | None = None,
) -> tuple[str, bool]:
    """The Markdown report of ``loaded`` (:func:`load_drone_results`) and whether the
    protocol (``expect_models`` x ``expect_seeds``) is complete."""
    runs = loaded["runs"]
    conds = loaded["conditions"]
    complete = {k: v for k, v in runs.items() if all(c in v["metrics"] for c in v["expected"])}
    models = list(dict.fromkeys([*expect_models, *sorted({m for m, _ in runs})]))
    seeds = sorted({*expect_seeds, *(s for _, s in runs)})
    grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for (m, s), v in sorted(complete.items()):
        grouped[m].append({"seed": s, **v})
    # the protocol's order (reference first where listed so), then any other model
    by_model = {m: grouped[m] for m in models if m in grouped}
    done = all((m, s) in complete for m in expect_models for s in expect_seeds)
    done = done and bool(expect_models) and bool(expect_seeds)
    lines = ["# Drone benchmark: flying to a target in and out of distribution", ""]
    if command:
        lines += [f"Regenerate: `{command}`", ""]
    lines += [
        "Every model trains on the same summer expert flights with the same budget, at the "
        "learning rate its own sweep chose on validation loss, once per training seed; each "
        "run flies the same held-out test scenes (never used for any choice) in every "
        "condition. Success = within the success radius of the target, facing it, in time, "
        "no collision.",
        "",
        "## Coverage",
        "",
        "| model | " + " | ".join(f"seed {s}" for s in seeds) + " |",
        "|---|" + "---|" * len(seeds),
    ]
    for m in models:
        cells = []
        for s in seeds:
            if (m, s) in complete:
                cells.append("done")
            elif (m, s) in runs:
                cells.append(f"partial ({len(runs[m, s]['metrics'])} conditions)")
            else:
                cells.append("-")
        lines.append(f"| {_name(m)} | " + " | ".join(cells) + " |")
    codes = {c for v in complete.values() for c in v["codes"]}
    lines += [
        "",
        f"Status: **{'complete' if done else 'partial'}** ({len(complete)} complete runs; "
        f"code versions: {', '.join(sorted(codes)) or 'none'}).",
        "",
    ]
    if len(codes) > 1:
        lines += ["**Warning**: the runs come from more than one code version.", ""]
    if not by_model:
        return "\n".join(lines) + "\n", done
    # success table, pooled over seeds
    lines += [
        "## Success rate per condition",
        "",
        "Pooled over the seeds (successes / flights, Wilson 95% interval); `n` = flights "
        "per condition (seeds x test scenes).",
        "",
        "| model | seeds | n | " + " | ".join(conds) + " |",
        "|---|---:|---:|" + "---|" * len(conds),
    ]
    pooled: dict[tuple[str, str], tuple[int, int]] = {}
    for m, rs in by_model.items():
        cells = []
        for c in conds:
            k = sum(int(r["metrics"][c]["success"]) for r in rs if c in r["metrics"])
            n = sum(int(r["metrics"][c]["episodes"]) for r in rs if c in r["metrics"])
            pooled[m, c] = (k, n)
            cells.append(_ci(k, n) if n else "n/a")
        n0 = pooled[m, conds[0]][1]
        lines.append(f"| {_name(m)} | {len(rs)} | {n0} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "Per seed (success rate):",
        "",
        "| model | seed | val loss | " + " | ".join(conds) + " |",
        "|---|---:|---:|" + "---:|" * len(conds),
    ]
    for m, rs in by_model.items():
        for r in rs:
            cells = [
                _pct(r["metrics"][c]["success_rate"]) if c in r["metrics"] else "n/a" for c in conds
            ]
            vl = r["run"].get("val_loss")
            lines.append(f"| {_name(m)} | {r['seed']} | {vl:.4f} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "Failure modes, pooled (timeout / collision / target lost):",
        "",
        "| model | " + " | ".join(conds) + " |",
        "|---|" + "---|" * len(conds),
    ]
    for m, rs in by_model.items():
        cells = []
        for c in conds:
            t = [
                sum(int(r["metrics"][c][o]) for r in rs)
                for o in ("timeout", "collision", "target_lost")
            ]
            cells.append(" / ".join(map(str, t)))
        lines.append(f"| {_name(m)} | " + " | ".join(cells) + " |")
    lines.append("")
    # out-of-distribution drop
    if IN_DISTRIBUTION in conds:
        ood = [c for c in conds if c != IN_DISTRIBUTION]
        lines += [
            "## Out of distribution: the drop from summer",
            "",
            "Summer success minus each condition's, per seed, mean ± std over seeds "
            "(percentage points; larger = less robust).",
            "",
            "| model | " + " | ".join(ood) + " |",
            "|---|" + "---:|" * len(ood),
        ]
        for m, rs in by_model.items():
            cells = []
            for c in ood:
                d = [
                    100
                    * (
                        r["metrics"][IN_DISTRIBUTION]["success_rate"]
                        - r["metrics"][c]["success_rate"]
                    )
                    for r in rs
                ]
                sd = f" ± {np.std(d, ddof=1):.1f}" if len(d) > 1 else ""
                cells.append(f"{np.mean(d):+.1f}{sd}")
            lines.append(f"| {_name(m)} | " + " | ".join(cells) + " |")
        lines.append("")
    # tests against the reference
    verdicts: list[str] = []
    if reference in by_model and len(by_model) > 1:
        ref = by_model[reference]
        sizes = sorted({len(rs) for m, rs in by_model.items() if m != reference})
        min_p = "; ".join(
            f"with {len(ref)} + {k} seeds its smallest possible p is "
            f"{2 / math.comb(len(ref) + k, k):.3f}"
            for k in sizes
        )
        lines += [
            f"## {_name(reference)} against each baseline",
            "",
            "Difference = reference minus baseline, mean per-seed success (points). "
            "`p (seeds)`: exact two-sided permutation test over training seeds (the unit "
            f"that carries training variance; {min_p}). `p (flights)`: Fisher's exact test on the pooled flights "
            "(treats flights as independent: anti-conservative when seeds differ).",
            "",
            "| baseline | condition | difference | p (seeds) | p (flights) |",
            "|---|---|---:|---:|---:|",
        ]
        for m, rs in by_model.items():
            if m == reference:
                continue
            for c in conds:
                a = [r["metrics"][c]["success_rate"] for r in ref]
                b = [r["metrics"][c]["success_rate"] for r in rs]
                diff = 100 * (float(np.mean(a)) - float(np.mean(b)))
                p_seed = seed_permutation_test(a, b)
                p_fl = fisher_exact_test(*pooled[reference, c], *pooled[m, c])
                lines.append(f"| {_name(m)} | {c} | {diff:+.1f} | {_p(p_seed)} | {_p(p_fl)} |")
                if p_seed < 0.05:
                    better = "above" if diff > 0 else "below"
                    verdicts.append(
                        f"{_name(reference)} is {better} {_name(m)} in {c} ({diff:+.1f} "
                        f"points, p = {_p(p_seed)} over seeds)"
                    )
        lines.append("")
        k, n = pooled[reference, conds[0]]
        n_seeds = len(ref)
        lines += [
            "Smallest detectable difference (80% power, two-sided 5%): with "
            f"{n} pooled flights per arm at the reference's {conds[0]} rate "
            f"({k / n:.1%}), {detectable_proportion_difference(k / n, n):.1%} in success "
            "rate for the flight-level test; the seed-level test with "
            f"{n_seeds} seeds per arm detects only differences large against the spread "
            "between seeds (see the per-seed table).",
            "",
            "## Verdict",
            "",
        ]
        if verdicts:
            lines += [f"- {v}." for v in verdicts]
        else:
            lines.append(
                f"No difference between {_name(reference)} and any baseline reaches p < 0.05 "
                "over seeds in any condition."
            )
        if not done:
            lines.append("")
            lines.append("(Partial: the verdict covers the complete runs only.)")
        lines.append("")
    # training
    from lnn_drive.eval.training_report import training_section

    named = {_name(m): [{**r["run"], "seed": r["seed"]} for r in rs] for m, rs in by_model.items()}
    if figure is not None:
        lines += training_section(
            named,
            sweeps=loaded.get("sweeps", {}),
            names={m: _name(m) for m in by_model},
            figure=figure,
        )
    lines += [
        "## Model sizes",
        "",
        "| model | encoder params | neurons | synapses | controller params |",
        "|---|---:|---:|---:|---:|",
    ]
    for m, rs in by_model.items():
        s = rs[0]["run"].get("summary", {})
        cells = [
            f"{s[k]:,}" if isinstance(s.get(k), int) else "n/a"
            for k in ("encoder_params", "neurons", "synapses", "controller_params")
        ]
        lines.append(f"| {_name(m)} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n", done


def drone_report_from_results(
    root: str | Path,
    *,
    report: str | Path,
    command: str = "",
    expect_models: Sequence[str] = (),
    expect_seeds: Sequence[int] = (),
    reference: str = "ncp_cfc_drone",
) -> dict[str, Any]:
    """Write the report of the results under ``root`` to ``report`` (atomically; the
    learning-curve plot beside it). Returns ``{"report", "complete", "runs"}``."""
    from lnn_drive.eval.benchmark import load_sweeps

    loaded = load_drone_results(root)
    loaded["sweeps"] = load_sweeps(root)
    report = Path(report)
    report.parent.mkdir(parents=True, exist_ok=True)
    text, done = drone_report(
        loaded,
        reference=reference,
        expect_models=expect_models,
        expect_seeds=expect_seeds,
        command=command,
        figure=report.with_name(report.stem + "_curves.png"),
    )
    tmp = report.with_name(f".{report.name}.partial")
    tmp.write_text(text)
    tmp.replace(report)
    runs = sum(all(c in v["metrics"] for c in v["expected"]) for v in loaded["runs"].values())
    return {"report": str(report), "complete": done, "runs": runs}


__all__ = ["drone_report", "drone_report_from_results", "load_drone_results"]
