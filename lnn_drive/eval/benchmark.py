"""`benchmark`: every controller on the same logs, the same budget and several seeds,
evaluated clean, under frame noise and out of distribution; a Markdown report with plots.

It reproduces the shape of the NCP paper's Tables 1-2 (parameters, closed-loop performance)
and Fig. 4 (crashes under increasing input noise) on this project's simulator, whatever the
outcome. Each (model, seed) run stores its result as JSON, so an interrupted benchmark
resumes where it stopped.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig, OmegaConf

from lnn_drive.cli import compose_config
from lnn_drive.eval.evaluate import EvalConfig, evaluate_policy, load_policy
from lnn_drive.eval.report import write_json

#: Display names, in the paper's order.
MODEL_NAMES = {
    "ncp_ltc": "NCP (LTC)",
    "ncp_cfc": "NCP (CfC)",
    "lstm": "LSTM-64",
    "gru": "GRU-64",
    "ctrnn": "CT-RNN-64",
    "cfc": "CfC-64 (dense)",
    "feedforward": "CNN (feedforward)",
}


@dataclass(frozen=True, kw_only=True)
class BenchmarkConfig:
    """Options of the benchmark (``conf/benchmark.yaml``).

    Attributes:
        models: Model config names (``conf/model/<name>.yaml``).
        seeds: Training seeds per model.
        train_overrides: Hydra overrides applied to every training run (the shared budget).
        dagger_models: Models also trained with DAgger on top of the same logs.
        dagger_overrides: Extra overrides for the DAgger runs.
        data_root: Existing logs to train on; empty: collect them with ``collect_overrides``.
        collect_overrides: Overrides of ``conf/collect.yaml`` when collecting.
        report: Where the Markdown report goes (plots beside it).
        train_procs: Data-parallel local processes per training run, one thread each
            (``lnn_drive.train.launch.train_local``; 1: in-process).
    """

    models: list[str] = field(default_factory=lambda: list(MODEL_NAMES))
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    train_overrides: list[str] = field(default_factory=list)
    dagger_models: list[str] = field(default_factory=list)
    dagger_overrides: list[str] = field(default_factory=list)
    data_root: str = ""
    collect_overrides: list[str] = field(default_factory=list)
    train_procs: int = 1
    report: str = ""

    def __post_init__(self) -> None:
        if not self.models:
            raise ValueError("benchmark.models is empty")
        if not self.seeds:
            raise ValueError("benchmark.seeds is empty")
        if self.train_procs < 1:
            raise ValueError(f"benchmark.train_procs must be >= 1, got {self.train_procs}")
        for m in [*self.models, *self.dagger_models]:
            if not (_conf_dir() / "model" / f"{m}.yaml").is_file():
                known = sorted(p.stem for p in (_conf_dir() / "model").glob("*.yaml"))
                raise ValueError(f"benchmark: unknown model {m!r}; known: {', '.join(known)}")


def _conf_dir() -> Path:
    from lnn_drive import PROJECT_ROOT

    return PROJECT_ROOT / "conf"


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


def collect_data(bcfg: BenchmarkConfig, out: Path) -> str:
    """Collect the benchmark's expert logs once (reused when already complete)."""
    if bcfg.data_root:
        return bcfg.data_root
    root = out / "data"
    if (root / "dataset.json").is_file():
        return str(root)
    from lnn_drive.envs.collect import collect

    ccfg = compose_config(
        "collect",
        [f"out={root}", f"paths.output_dir={out}/collect", *bcfg.collect_overrides],
    )
    collect(ccfg)
    return str(root)


def model_summary(policy: Any) -> dict[str, Any]:
    """Parameter counts of a loaded policy (see ``lnn_drive/models/summary.py``)."""
    from lnn_drive.models.summary import summarise

    return summarise(policy).as_dict()


def run_one(
    *,
    model: str,
    seed: int,
    data_root: str,
    out: Path,
    overrides: list[str],
    env_cfg: dict[str, Any],
    ecfg: EvalConfig,
    dagger: bool = False,
    train_fn: Callable[[DictConfig], dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Train one model with one seed, evaluate it in every condition; cached as JSON."""
    tag = f"{model}{'+dagger' if dagger else ''}/seed{seed}"
    run_dir = out / "runs" / tag
    done = run_dir / "result.json"
    if done.is_file():
        return json.loads(done.read_text())
    tcfg = compose_config(
        "dagger" if dagger else "train",
        [
            f"model={model}",
            f"seed={seed}",
            f"data.roots=[{data_root}]",
            f"paths.output_dir={run_dir}",
            *overrides,
        ],
    )
    t0 = time.perf_counter()
    if dagger:
        from lnn_drive.train.dagger import dagger as dagger_fn

        res = dagger_fn(tcfg, train_fn=train_fn) if train_fn else dagger_fn(tcfg)
    else:
        if train_fn is None:
            from lnn_drive.train.bc import train as train_fn
        res = train_fn(tcfg)
    train_s = time.perf_counter() - t0
    policy = load_policy(res["best_checkpoint"])
    ev = evaluate_policy(policy, env_cfg, ecfg, out_dir=run_dir / "eval", label=tag)
    result = {
        "model": model,
        "dagger": dagger,
        "seed": seed,
        "checkpoint": str(res["best_checkpoint"]),
        "val_loss": float(res.get("val_loss", float("nan"))),
        "train_steps": int(res.get("steps", 0)),
        "train_s": train_s,
        "summary": model_summary(policy),
        "metrics": ev["metrics"],
    }
    write_json(result, done)
    return result


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
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_report(
    results: dict[str, list[dict[str, Any]]],
    *,
    path: Path,
    bcfg: BenchmarkConfig,
    ecfg: EvalConfig,
    command: str,
    wall_s: float,
) -> Path:
    """Markdown report: parameters (Table 1), clean closed loop (Table 2), robustness
    (Fig. 4 shape), and a plain statement of how the NCP compares."""
    conds = list(next(iter(results.values()))[0]["metrics"].keys())
    fig = _fig4(results, conds, path.with_name(path.stem + "_robustness.png"))
    lines = [
        "# Benchmark: NCP against baselines on the LaneKeeping simulator",
        "",
        f"Regenerate: `{command}`",
        "",
        f"Models trained on the same logs with the same budget "
        f"(`{' '.join(bcfg.train_overrides) or 'defaults'}`), seeds {bcfg.seeds}; each "
        f"evaluated on {ecfg.distance_km:g} km of held-out roads (seeds from {ecfg.seed}) per "
        f"condition, intervention mode (PilotNet autonomy). Mean ± std over seeds. "
        f"Benchmark wall time {wall_s / 60:.1f} min.",
        "",
        "## Parameters and training (cf. NCP paper Table 1)",
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
    lines += [
        "",
        "## Closed loop, clean (cf. NCP paper Table 2)",
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
    lines += ["", f"![robustness]({fig.name})", "", "## How the NCP compares", ""]
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


def benchmark(cfg: DictConfig, *, train_fn: Callable | None = None) -> dict[str, Any]:
    """Entry point of ``scripts/benchmark.py`` (``conf/benchmark.yaml``)."""
    raw = OmegaConf.to_container(cfg.benchmark, resolve=True)
    bcfg = BenchmarkConfig(**raw)
    ecfg = EvalConfig.from_cfg(cfg.eval)
    env_cfg = OmegaConf.to_container(cfg.env, resolve=True)
    out = Path(cfg.out_dir)
    t0 = time.perf_counter()
    data_root = collect_data(bcfg, out)
    results: dict[str, list[dict[str, Any]]] = {}
    if train_fn is None and bcfg.train_procs > 1:
        from functools import partial

        from lnn_drive.train.launch import train_local

        train_fn = partial(train_local, nproc=bcfg.train_procs, threads_per_proc=1)
    jobs = [(m, False) for m in bcfg.models] + [(m, True) for m in bcfg.dagger_models]
    for model, dag in jobs:
        name = MODEL_NAMES.get(model, model) + (" + DAgger" if dag else "")
        over = [*bcfg.train_overrides, *(bcfg.dagger_overrides if dag else [])]
        results[name] = [
            run_one(
                model=model,
                seed=s,
                data_root=data_root,
                out=out,
                overrides=over,
                env_cfg=env_cfg,
                ecfg=ecfg,
                dagger=dag,
                train_fn=train_fn,
            )
            for s in bcfg.seeds
        ]
        print(f"benchmark: {name} done ({len(bcfg.seeds)} seeds)", flush=True)
    report = Path(bcfg.report) if bcfg.report else out / "benchmark.md"
    path = write_report(
        results,
        path=report,
        bcfg=bcfg,
        ecfg=ecfg,
        command=str(cfg.get("command", "python scripts/benchmark.py")),
        wall_s=time.perf_counter() - t0,
    )
    write_json(results, out / "benchmark.json")
    from lnn_drive.eval.html_report import write_html_report

    curves = {
        f"{p.parent.parent.name}/{p.parent.name}": p
        for p in sorted((out / "runs").glob("*/seed*/metrics.csv"))
    }
    html = write_html_report(path, learning_curves=curves)
    print(f"report: {path}\nreport (html): {html}")
    return {"report": str(path), "results": results, "data_root": data_root}
