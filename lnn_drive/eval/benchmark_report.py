"""The benchmark's report: Markdown tables, plots, statistics and the paper's tables, from
the runs :func:`lnn_drive.eval.benchmark.run_one` stored (``lnn-drive benchmark-report``).

Presentation only: nothing here changes a stored figure, so its modules are left out of the
results' code version (:data:`lnn_drive.eval.benchmark.PRESENTATION_MODULES`) and the report
can improve without making hours of committed results stale.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import fields
from pathlib import Path
from typing import Any

import numpy as np

from lnn_drive.eval.benchmark import (
    KIND_SUFFIX,
    MODEL_NAMES,
    BenchmarkConfig,
    display_name,
    load_sweeps,
)
from lnn_drive.eval.evaluate import EvalConfig
from lnn_drive.eval.paper_tables import paper_tables_section
from lnn_drive.eval.provenance import StaleResultError
from lnn_drive.eval.stats import statistics_section
from lnn_drive.eval.training_report import save_figure, training_section
from lnn_drive.train.bc import TrainConfig


def recipe_summary(tc: TrainConfig) -> str:
    """The options of ``tc`` that differ from the :class:`TrainConfig` defaults."""
    base = TrainConfig()
    diff = [
        f"train.{f.name}={getattr(tc, f.name)}"
        for f in fields(tc)
        if f.name != "seed" and getattr(tc, f.name) != getattr(base, f.name)
    ]
    return " ".join(diff) or "defaults"


def _mean_std(xs: list[float]) -> tuple[float, float]:
    a = np.asarray([x for x in xs if x is not None and not math.isnan(x)], dtype=np.float64)
    if a.size == 0:
        return float("nan"), float("nan")
    return float(a.mean()), float(a.std(ddof=1)) if a.size > 1 else 0.0


def _pm(xs: list[float], fmt: str = "{:.3f}", scale: float = 1.0) -> str:
    m, s = _mean_std([x * scale for x in xs])
    if math.isnan(m):
        return "n/a"
    return f"{fmt.format(m)} ± {fmt.format(s)}"


def load_results(root: str | Path) -> dict[str, list[dict[str, Any]]]:
    """The committed result JSONs under ``root`` as the report's input: display name ->
    one run per seed (``run`` info plus ``metrics`` per condition), in model order.

    Raises:
        FileNotFoundError: ``root`` holds no result JSON.
        StaleResultError: a file without provenance.
    """
    runs: dict[tuple[str, int], dict[str, Any]] = {}
    files = sorted(Path(root).glob("*.json"))
    if not files:
        raise FileNotFoundError(f"no result JSONs in {root}")
    for p in files:
        try:
            doc = json.loads(p.read_text())
            prov, res = doc["provenance"], doc["result"]
            key = (prov["model"], int(prov["seed"]))
        except (ValueError, KeyError, TypeError) as e:
            raise StaleResultError(f"{p}: not a result file with provenance ({e})") from e
        run = runs.setdefault(key, {**res["run"], "metrics": {}, "provenance": []})
        run["metrics"][prov["condition"]] = res["metrics"]
        run["provenance"].append({k: prov.get(k) for k in ("config_hash", "code", "commit")})
    order = {m: i for i, m in enumerate(MODEL_NAMES)}
    kinds = list(KIND_SUFFIX)

    def rank(key: tuple[str, int]) -> tuple[int, int, str, int]:
        model, _, suffix = key[0].partition("+")
        kind = next((k for k, v in KIND_SUFFIX.items() if v == f"+{suffix}" and suffix), "bc")
        return (order.get(model, len(order)), kinds.index(kind), key[0], key[1])

    out: dict[str, list[dict[str, Any]]] = {}
    for key in sorted(runs, key=rank):
        out.setdefault(display_name(key[0]), []).append(runs[key])
    return out


def _fig4(results: dict[str, list[dict[str, Any]]], conds: list[str], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    x = np.arange(len(conds))
    width = 0.8 / max(len(results), 1)
    for j, (name, runs) in enumerate(results.items()):
        for ax, key, scale in ((axes[0], "autonomy", 100.0), (axes[1], "interventions_per_km", 1)):
            ms = [_mean_std([r["metrics"][c][key] * scale for r in runs]) for c in conds]
            ax.bar(
                x + (j - (len(results) - 1) / 2) * width,
                [m for m, _ in ms],
                width,
                yerr=[s for _, s in ms],
                label=name,
                capsize=2,
            )
    axes[0].set_ylabel("autonomy %")
    axes[1].set_ylabel("interventions / km")
    for ax in axes:
        ax.set_xticks(x, conds, rotation=30, ha="right", fontsize=8)
        ax.grid(axis="y", alpha=0.3)
    axes[0].legend(fontsize=7, ncol=2)
    return save_figure(fig, path, dpi=110)


def write_report(
    results: dict[str, list[dict[str, Any]]],
    *,
    path: Path,
    bcfg: BenchmarkConfig,
    ecfg: EvalConfig,
    command: str,
    wall_s: float,
    recipe: str = "defaults",
    sweeps: Mapping[str, Mapping[str, Any]] | None = None,
    conds: list[str] | None = None,
    preamble: list[str] | None = None,
) -> Path:
    """Markdown report: parameters (Table 2) and validation loss (Table 1), the training
    protocol (lr sweep, budget, learning curves, DAgger vs BC), clean closed loop,
    robustness (Fig. 4 shape), the paper's tables side by side
    (:mod:`lnn_drive.eval.paper_tables`), and a plain statement of how the NCP compares.

    ``conds`` orders the conditions (default: the first run's); ``preamble`` is inserted
    after the regenerate line (the coverage and calibration of a partial run)."""
    conds = conds or list(next(iter(results.values()))[0]["metrics"].keys())
    fig = _fig4(results, conds, path.with_name(path.stem + "_robustness.png"))
    lines = [
        "# Benchmark: NCP against baselines on the LaneKeeping simulator",
        "",
        f"Regenerate: `{command}`",
        "",
        *(preamble or []),
        f"Models trained on the same logs with the same budget "
        f"(`{recipe}`), seeds {list(bcfg.seeds)}; each "
        f"evaluated on {ecfg.distance_km:g} km of held-out roads (seeds from {ecfg.seed}) per "
        f"condition, intervention mode (PilotNet autonomy). Mean ± std over seeds. "
        f"Benchmark wall time {wall_s / 60:.1f} min.",
        "",
        "## Parameters (cf. NCP paper Table 2) and training (validation loss: cf. Table 1)",
        "",
        "| model | encoder params | neurons | synapses | controller params | val loss | train s |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, runs in results.items():
        s = runs[0]["summary"]
        lines.append(
            f"| {name} | {s.get('encoder_params', 'n/a'):,} | {s.get('neurons', 'n/a')} | "
            f"{s.get('synapses', 'n/a')} | {s.get('controller_params', 'n/a'):,} | "
            f"{_pm([r['val_loss'] for r in runs], '{:.4f}')} | "
            f"{_pm([r['train_s'] for r in runs], '{:.0f}')} |"
        )
    lines.append("")
    lines += training_section(
        results,
        sweeps=sweeps or {},
        names=MODEL_NAMES,
        figure=path.with_name(path.stem + "_learning_curves.png"),
    )
    lines += [
        "",
        "## Closed loop, clean (active test)",
        "",
        "| model | autonomy % | interventions/km | mean abs offset (m) | max abs offset (m) | "
        "mean abs heading (rad) | smoothness (1/m per step) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, runs in results.items():
        c = [r["metrics"]["clean"] for r in runs]
        lines.append(
            f"| {name} | {_pm([m['autonomy'] for m in c], '{:.2f}', 100)} | "
            f"{_pm([m['interventions_per_km'] for m in c], '{:.2f}')} | "
            f"{_pm([m['mean_abs_offset'] for m in c])} | "
            f"{_pm([m['max_abs_offset'] for m in c])} | "
            f"{_pm([m['mean_abs_heading_error'] for m in c], '{:.4f}')} | "
            f"{_pm([m['smoothness'] for m in c], '{:.5f}')} |"
        )
    lines += [
        "",
        "## Robustness: autonomy % under frame noise and out of distribution (cf. Fig. 4)",
        "",
        "| model | " + " | ".join(conds) + " |",
        "|---|" + "---:|" * len(conds),
    ]
    for name, runs in results.items():
        cells = [_pm([r["metrics"][c]["autonomy"] for r in runs], "{:.1f}", 100) for c in conds]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "Interventions per km:",
        "",
        "| model | " + " | ".join(conds) + " |",
        "|---|" + "---:|" * len(conds),
    ]
    for name, runs in results.items():
        cells = [
            _pm([r["metrics"][c]["interventions_per_km"] for r in runs], "{:.2f}") for c in conds
        ]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    ref = next((n for n in results if n.startswith("NCP (CfC)")), next(iter(results)))
    lines += ["", f"![robustness]({fig.name})", ""]
    lines += statistics_section(results, conds, reference=ref)
    # The paper's tables beside ours (issue 13, deliverable 6): lnn_drive/eval/paper_tables.py
    lines += paper_tables_section(results, conds)
    lines += ["## How the NCP compares", ""]
    lines += _verdict(results, conds)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text("\n".join(lines) + "\n")
    tmp.replace(path)
    return path


def _verdict(results: dict[str, list[dict[str, Any]]], conds: list[str]) -> list[str]:
    """Plain sentences ranking the NCP variants by mean autonomy in each condition.

    Ties (equal mean autonomy, e.g. several models at 100%) are reported as ties, so the
    order of the models in the report never decides who "wins"."""
    out = []
    ncps = [n for n in results if n.startswith("NCP")]
    if not ncps:
        return [
            "No NCP run has finished yet, so this report states no comparison: the tables "
            "above describe only the models listed in them.",
            "",
        ]
    alone = tied = 0
    for cond in conds:
        mean = {
            n: _mean_std([r["metrics"][cond]["autonomy"] for r in results[n]])[0] for n in results
        }
        top = max(mean.values())
        best = [n for n in results if mean[n] >= top - 1e-9]
        # rank = 1 + number of models strictly better
        pos = {n: 1 + sum(mean[m] > mean[n] + 1e-9 for m in results) for n in ncps}
        parts = ", ".join(
            f"{n} ranks {pos[n]} of {len(results)} ({100 * mean[n]:.1f}%)" for n in ncps
        )
        head = (
            f"best {best[0]} ({100 * top:.1f}%)"
            if len(best) == 1
            else f"tied best at {100 * top:.1f}%: {', '.join(best)}"
        )
        out.append(f"- **{cond}**: {head}; {parts}.")
        if any(n in best for n in ncps):
            if all(n.startswith("NCP") for n in best):
                alone += 1
            else:
                tied += 1
    out.append("")
    out.append(
        f"An NCP variant alone has the best mean autonomy in {alone} of {len(conds)} "
        f"conditions and shares the best with a baseline in {tied}; a baseline is ahead in "
        f"{len(conds) - alone - tied}. "
        + (
            "The NCP comes out ahead in most conditions on this simulator and budget."
            if alone > len(conds) / 2
            else "The NCP does not come out ahead overall on this simulator and budget."
        )
    )
    return out


def _conditions(results: Mapping[str, list[dict[str, Any]]]) -> list[str]:
    """Every condition any run has, in the order of the run that has the most."""
    runs = [r for rs in results.values() for r in rs]
    first = max(runs, key=lambda r: len(r["metrics"]))
    out = list(first["metrics"])
    for r in runs:
        out += [c for c in r["metrics"] if c not in out]
    return out


def coverage_section(
    results: Mapping[str, list[dict[str, Any]]],
    conds: list[str],
    *,
    sweeps: Mapping[str, Mapping[str, Any]],
    expect_models: list[str] | tuple[str, ...] = (),
    expect_seeds: list[int] | tuple[int, ...] = (),
) -> tuple[list[str], bool]:
    """Markdown lines saying which (model, seed, condition) results the report rests on,
    which are missing, and which code versions produced them; and whether the set is
    complete (every expected model and seed with every condition).

    A run with some conditions missing (its evaluation was cut off) is listed here and left
    out of every table below, so no mean mixes runs evaluated on different conditions.
    """
    names = list(dict.fromkeys([*map(display_name, expect_models), *results]))
    seeds = sorted({*expect_seeds, *(int(r["seed"]) for rs in results.values() for r in rs)})
    versions = sorted(
        {
            (p.get("code"), (p.get("commit") or "")[:10])
            for rs in results.values()
            for r in rs
            for p in r["provenance"]
        },
        key=str,
    )
    done = total = 0
    lines = [
        "## Coverage: what this report rests on",
        "",
        f"Conditions: {len(conds)} ({', '.join(conds)}). A cell gives the conditions "
        "evaluated for that model and training seed; only complete runs enter the tables.",
        "",
        "| model | lr sweep | " + " | ".join(f"seed {k}" for k in seeds) + " |",
        "|---|---|" + "---:|" * len(seeds),
    ]
    by_config = {display_name(k): v for k, v in sweeps.items()}
    for name in names:
        runs = {int(r["seed"]): r for r in results.get(name, [])}
        sw = by_config.get(name)
        cells = []
        for k in seeds:
            n = len(set(runs[k]["metrics"]) & set(conds)) if k in runs else 0
            total += 1
            done += n == len(conds)
            cells.append("-" if k not in runs else f"{n}/{len(conds)}")
        lr = f"lr {sw['lr']:g}" if sw and "lr" in sw else ("n/a" if "+" in name else "-")
        lines.append(f"| {name} | {lr} | " + " | ".join(cells) + " |")
    complete = done == total
    lines += [
        "",
        f"**{done} of {total} (model, seed) runs complete.**"
        + (
            ""
            if complete
            else " This is a partial report of a run in progress: every figure below comes "
            "from the complete runs only, and nothing is said about models or seeds not yet "
            "run."
        ),
        "",
        "Code versions of these results (code key, commit): "
        + "; ".join(f"`{c}` at `{m}`" for c, m in versions)
        + ".",
    ]
    if len({c for c, _ in versions}) > 1:
        lines.append(
            "**Warning: these results come from more than one code version**; a benchmark "
            "report must not mix them. Re-run the stale ones at one commit."
        )
    lines.append("")
    return lines, complete


def calibration_section(
    results_dir: str | Path, results: Mapping[str, list[dict[str, Any]]]
) -> list[str]:
    """Markdown lines of the task's calibration (issue 13, deliverable 1): the privileged
    experts' records on the test roads (``<results>/expert/*.json``, written by
    ``lnn-drive expert-check ... out=``) beside the feed-forward CNN's clean interventions,
    and whether the bar holds: the expert with zero interventions, the CNN clearly above
    it (the lower end of its 95% interval above the upper end of the expert's)."""
    from lnn_drive.eval.stats import poisson_rate_ci

    records = []
    for p in sorted((Path(results_dir) / "expert").glob("*.json")):
        try:
            doc = json.loads(p.read_text())
            cfg, r = doc["provenance"]["config"], doc["result"]
            records.append((cfg["env"]["expert"], cfg, r))
        except (ValueError, KeyError, TypeError) as e:
            raise StaleResultError(f"{p}: not an expert-check record ({e})") from e
    if not records:
        return []
    lines = [
        "## Calibration: the privileged expert and a feed-forward CNN on the test roads",
        "",
        "| driver | km | roads (seeds) | interventions | lane departures | "
        "1 m departures | max abs offset (m) | per km [95% CI] |",
        "|---|---:|---|---:|---:|---:|---:|---|",
    ]
    expert_high = math.inf
    for name, cfg, r in records:
        ci = poisson_rate_ci(int(r["crashes"]), float(r["km"]))
        expert_high = min(expert_high, ci.high) if r["crashes"] == 0 else expert_high
        lines.append(
            f"| expert `{name}` (steps per road {cfg.get('drive_steps')}) | {r['km']:.2f} | "
            f"{r['episodes']} ({r['seeds'][0]}-{r['seeds'][1]}) | {r['crashes']} | "
            f"{r['lane_departures']} | {r['departures_1m']} | {r['max_abs_offset']:.3f} | "
            f"{ci.rate:.3f} [{ci.low:.3f}, {ci.high:.3f}] |"
        )
    cnn = display_name("feedforward")
    clean = [r["metrics"]["clean"] for r in results.get(cnn, []) if "clean" in r["metrics"]]
    verdict = "not yet measured (no finished feed-forward CNN run)"
    if clean:
        k = sum(int(m["interventions"]) for m in clean)
        km = sum(float(m["distance_km"]) for m in clean)
        ci = poisson_rate_ci(k, km)
        lines.append(
            f"| {cnn}, clean, {len(clean)} seed(s) pooled | {km:.2f} | the same roads | {k} | "
            f"{sum(int(m.get('lane_departures', 0)) for m in clean)} | "
            f"{sum(int(m.get('departures_1m', 0)) for m in clean)} | "
            f"{max(float(m['max_abs_offset']) for m in clean):.3f} | "
            f"{ci.rate:.3f} [{ci.low:.3f}, {ci.high:.3f}] |"
        )
        met = math.isfinite(expert_high) and ci.low > expert_high
        verdict = (
            "**met**: the expert has no intervention and the CNN's interval lies above the expert's"
            if met
            else "**not met**: the CNN's interval overlaps the expert's (or the expert "
            "intervened), so the task does not separate them"
        )
    lines += [
        "",
        "The experts run in terminate-on-crash mode on exactly the roads the models are "
        "evaluated on (same seeds, same steps per road); the profile was set from the "
        "issue's ranges and never tuned toward any model. Bar (expert zero interventions, "
        f"the feed-forward CNN clearly more): {verdict}.",
        "",
    ]
    return lines


def report_from_results(
    results_dir: str | Path,
    *,
    report: str | Path,
    command: str,
    how_to_run: str | Path | None = None,
    expect_models: list[str] | tuple[str, ...] = (),
    expect_seeds: list[int] | tuple[int, ...] = (),
) -> dict[str, Any]:
    """Regenerate the benchmark report from stored result JSONs alone (no training, no
    evaluation): what ``lnn-drive benchmark-report results=<dir>`` runs.

    The seeds, evaluation distance and first test road are read from the results'
    provenance. A run in progress gives a partial report: a coverage table first (which
    models, seeds and conditions are done, against ``expect_models`` x ``expect_seeds``,
    and the code versions), then the tables from the complete runs only; a run with some
    conditions missing is left out of them. The calibration section reads the experts'
    records under ``<results_dir>/expert/``.

    Args:
        results_dir: Folder of result JSONs (e.g. ``docs/results/benchmark_hard``).
        report: The Markdown file to write (plots beside it).
        command: The command line printed in the report.
        how_to_run: A Markdown file appended verbatim (the protocol's "How to run it").
        expect_models: Model config names the protocol runs (``benchmark.models``), so
            the coverage lists the ones with nothing done yet.
        expect_seeds: Training seeds the protocol runs (``benchmark.seeds``).

    Returns:
        ``{"report": path, "runs": complete (model, seed) runs, "complete": bool}``.
    """
    results = load_results(results_dir)
    first = json.loads(next(iter(sorted(Path(results_dir).glob("*.json")))).read_text())
    ev = first["provenance"]["config"].get("eval", {})
    ecfg = EvalConfig(
        distance_km=float(ev.get("distance_km", EvalConfig().distance_km)),
        seed=int(ev.get("seed", EvalConfig().seed)),
    )
    conds = _conditions(results)
    sweeps = load_sweeps(results_dir)
    coverage, complete = coverage_section(
        results, conds, sweeps=sweeps, expect_models=expect_models, expect_seeds=expect_seeds
    )
    finished = {
        name: [r for r in runs if set(conds) <= set(r["metrics"])] for name, runs in results.items()
    }
    finished = {name: runs for name, runs in finished.items() if runs}
    preamble = coverage + calibration_section(results_dir, finished)
    path = Path(report)
    if not finished:
        path.parent.mkdir(parents=True, exist_ok=True)
        text = [
            "# Benchmark: NCP against baselines on the LaneKeeping simulator",
            "",
            f"Regenerate: `{command}`",
            "",
            *preamble,
            "No run has all its conditions evaluated yet: no table of results.",
            "",
        ]
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text("\n".join(text))
        tmp.replace(path)
    else:
        seeds = sorted({int(r["seed"]) for runs in finished.values() for r in runs})
        bcfg = BenchmarkConfig(models=tuple(finished), seeds=tuple(seeds))
        wall = sum(float(r.get("train_s", 0.0)) for runs in finished.values() for r in runs)
        write_report(
            finished,
            path=path,
            bcfg=bcfg,
            ecfg=ecfg,
            command=command,
            wall_s=wall,
            recipe=recipe_summary(TrainConfig(**_train_fields(first["provenance"]["config"]))),
            sweeps=sweeps,
            conds=conds,
            preamble=preamble,
        )
    if how_to_run is not None:
        text = path.read_text().rstrip("\n") + "\n\n" + Path(how_to_run).read_text()
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(text)
        tmp.replace(path)
    return {
        "report": str(path),
        "runs": sum(len(r) for r in finished.values()),
        "complete": complete,
    }


def _train_fields(config: Mapping[str, Any]) -> dict[str, Any]:
    """The stored ``train`` section as :class:`TrainConfig` keyword arguments."""
    names = {f.name for f in fields(TrainConfig)}
    train = config.get("train", {})
    return {k: (tuple(v) if isinstance(v, list) else v) for k, v in train.items() if k in names}
