"""The benchmark's training protocol in its report: the learning-rate sweep per model, the
budget every run used (steps, frames, minutes, why it stopped), the learning curves of
every run, and DAgger against behaviour cloning at the same budget.

Everything here reads what :func:`lnn_drive.eval.benchmark.run_one` stored in the result
JSONs (curves included), so the report is regenerated from committed results alone.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

#: Points kept per stored curve (validation is every ``train.val_every`` steps, so this
#: only thins the training-loss curve).
MAX_CURVE_POINTS = 200


def _thin(steps: list[int], values: list[float], n: int) -> tuple[list[int], list[float]]:
    if len(steps) <= n:
        return steps, values
    keep = np.unique(np.linspace(0, len(steps) - 1, n).round().astype(int))
    return [steps[i] for i in keep], [values[i] for i in keep]


def read_curve(run_dir: str | Path, *, max_points: int = MAX_CURVE_POINTS) -> dict[str, list]:
    """Validation and training loss against step from a run's ``metrics.csv``.

    Returns:
        ``{"val_step", "val_loss", "train_step", "train_loss"}`` (lists; empty when the
        run wrote no ``metrics.csv``). The training curve is thinned to ``max_points``.
    """
    path = Path(run_dir) / "metrics.csv"
    out: dict[str, list] = {"val_step": [], "val_loss": [], "train_step": [], "train_loss": []}
    if not path.is_file():
        return out
    with open(path, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            step = int(float(row["step"]))
            for key, col in (("val", "val/loss"), ("train", "train/loss")):
                v = row.get(col)
                if v not in (None, ""):
                    out[f"{key}_step"].append(step)
                    out[f"{key}_loss"].append(float(v))
    out["train_step"], out["train_loss"] = _thin(out["train_step"], out["train_loss"], max_points)
    return out


def concat_curves(curves: list[dict[str, list]]) -> dict[str, list]:
    """Curves of consecutive runs (DAgger rounds) as one, steps offset by the runs before."""
    out: dict[str, list] = {"val_step": [], "val_loss": [], "train_step": [], "train_loss": []}
    offset = 0
    for c in curves:
        for key in ("val", "train"):
            out[f"{key}_step"] += [s + offset for s in c[f"{key}_step"]]
            out[f"{key}_loss"] += list(c[f"{key}_loss"])
        offset = max([offset, *out["val_step"], *out["train_step"]])
    return out


def _fmt(x: Any, spec: str) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "n/a"
    return format(x, spec)


def _mean_std(xs: list[float]) -> str:
    a = np.asarray([x for x in xs if x is not None and math.isfinite(x)], dtype=np.float64)
    if a.size == 0:
        return "n/a"
    s = float(a.std(ddof=1)) if a.size > 1 else 0.0
    return f"{a.mean():.2f} ± {s:.2f}"


def _curves_figure(
    results: Mapping[str, list[dict[str, Any]]],
    sweeps: Mapping[str, Mapping[str, Any]],
    names: Mapping[str, str],
    path: Path,
) -> Path | None:
    """One panel per model: validation loss of every seed's run and every sweep run."""
    panels = [
        (name, runs, sweeps.get(runs[0].get("model", ""), {}) if " + " not in name else {})
        for name, runs in results.items()
    ]
    panels = [p for p in panels if any(r.get("curve", {}).get("val_step") for r in p[1])]
    if not panels:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = min(3, len(panels))
    rows = math.ceil(len(panels) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows), squeeze=False)
    for ax, (name, runs, sweep) in zip(axes.flat, panels, strict=False):
        for run in sweep.get("runs", []):
            c = run.get("curve", {})
            if c.get("val_step"):
                ax.plot(
                    c["val_step"],
                    c["val_loss"],
                    "--",
                    lw=1,
                    alpha=0.7,
                    label=f"sweep lr={run['lr']:g}",
                )
        for r in runs:
            c = r.get("curve", {})
            if c.get("val_step"):
                ax.plot(c["val_step"], c["val_loss"], lw=1.3, label=f"seed {r['seed']}")
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("optimiser step", fontsize=8)
        ax.set_ylabel("val loss", fontsize=8)
        ax.set_yscale("log")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6)
    for ax in list(axes.flat)[len(panels) :]:
        ax.set_visible(False)
    return save_figure(fig, path, dpi=100)


def save_figure(fig: Any, path: Path, *, dpi: int) -> Path:
    """Lay out, write (creating the folder) and close a matplotlib figure."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path


def training_section(
    results: Mapping[str, list[dict[str, Any]]],
    *,
    sweeps: Mapping[str, Mapping[str, Any]],
    names: Mapping[str, str],
    figure: Path,
) -> list[str]:
    """Markdown lines: sweep per model, budget per run, learning curves, DAgger vs BC.

    Args:
        results: Display name -> the runs (as :func:`~lnn_drive.eval.benchmark.run_one`
            returns them).
        sweeps: Model config name -> its stored learning-rate sweep.
        names: Model config name -> display name.
        figure: Where the learning-curve plot goes (linked relative to the report).
    """
    lines = ["## Training protocol: learning rate, budget, learning curves", ""]
    if sweeps:
        lines += [
            "Learning rate per model: the grid `benchmark.lr_grid`, each lr trained once "
            "(seed `benchmark.tune_seed`) with the benchmark's budget and early stopping; "
            "the lr with the lowest validation loss (held-out windows of the training logs, "
            "never the test roads) trains every seed.",
            "",
            "| model | grid: best val loss per lr | chosen lr |",
            "|---|---|---:|",
        ]
        for m, sw in sweeps.items():
            cells = ", ".join(
                f"{r['lr']:g}: {_fmt(r.get('val_loss'), '.4f')}" for r in sw.get("runs", [])
            )
            lines.append(f"| {names.get(m, m)} | {cells} | {sw['lr']:g} |")
        lines.append("")
    else:
        lines += ["No learning-rate sweep (`benchmark.lr_grid` empty): `train.lr` for all.", ""]
    lines += [
        "Budget actually used per run (fine-tunes: the BC run's steps plus the fine-tune's):",
        "",
        "| model | seed | lr | steps | frames | minutes | stopped | best step | val loss |",
        "|---|---:|---:|---:|---:|---:|---|---:|---:|",
    ]
    for name, runs in results.items():
        for r in runs:
            b = r.get("budget", {})
            lines.append(
                f"| {name} | {r['seed']} | {_fmt(r.get('lr'), 'g')} | "
                f"{_fmt(b.get('steps', r.get('train_steps')), ',')} | "
                f"{_fmt(b.get('frames'), ',')} | {_fmt(r.get('train_s', 0) / 60, '.1f')} | "
                f"{b.get('stopped', 'n/a')} | {_fmt(b.get('best_step'), 'd')} | "
                f"{_fmt(r.get('val_loss'), '.4f')} |"
            )
    fig = _curves_figure(results, sweeps, names, figure)
    lines += ["", f"![learning curves]({fig.name})" if fig else "(no learning curves stored)", ""]
    pairs = [
        (n[: -len(" + DAgger")], n, n[: -len(" + DAgger")] + " + BC (equal budget)")
        for n in results
        if n.endswith(" + DAgger")
    ]
    pairs = [p for p in pairs if p[2] in results]
    if pairs:
        conds = list(results[pairs[0][1]][0]["metrics"])
        lines += [
            "### DAgger against BC at equal budget",
            "",
            "Both start from the behaviour-cloned run's best checkpoint of the same seed and "
            "take the same number of fine-tune steps (`dagger.rounds` x "
            "`benchmark.dagger_steps`, no early stopping): DAgger on the logs plus its "
            "expert-labelled rollouts, BC on the original logs only. Interventions/km, mean "
            "± std over seeds:",
            "",
            "| model | " + " | ".join(conds) + " |",
            "|---|" + "---:|" * len(conds),
        ]
        for _base, dag, bc in pairs:
            for n in (bc, dag):
                cells = [
                    _mean_std([r["metrics"][c]["interventions_per_km"] for r in results[n]])
                    for c in conds
                ]
                lines.append(f"| {n} | " + " | ".join(cells) + " |")
        lines.append("")
    return lines
