"""`benchmark`: every controller on the same logs, the same budget and several seeds,
evaluated clean, under frame noise and out of distribution; a Markdown report with plots.

It reproduces the shape of the NCP paper's Table 1 (passive loss), Table 2 (parameters)
and Fig. 4 (crashes under increasing input noise) on this project's simulator, whatever the
outcome. Each (model, seed) run stores its result as JSON, so an interrupted benchmark
resumes where it stopped.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from lnn_drive.data.dataset import DataConfig
from lnn_drive.envs.collect import CollectConfig
from lnn_drive.envs.config import EnvConfig
from lnn_drive.eval.evaluate import EvalConfig, conditions, evaluate_policy, load_policy
from lnn_drive.eval.paper_tables import paper_tables_section
from lnn_drive.eval.provenance import (
    ResultKey,
    ResultStore,
    RoadRanges,
    StaleResultError,
    code_version,
    config_hash,
    parse_shard,
    shard_items,
)
from lnn_drive.eval.report import write_json
from lnn_drive.eval.stats import statistics_section
from lnn_drive.models.config import ModelConfig
from lnn_drive.models.policy import Policy
from lnn_drive.train.bc import TrainConfig
from lnn_drive.train.dagger import DaggerConfig

#: ``train(cfg, *, data, model, run_dir) -> result``: bc.train or a data-parallel launcher.
TrainFn = Callable[..., dict[str, Any]]

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
    """Options of the benchmark (``benchmark`` in ``conf/benchmark.yaml``; these are its
    defaults). The shared training budget, evaluation and collection are the typed
    configs of :class:`BenchmarkRecipe` (``conf/experiment/benchmark.yaml``).

    Attributes:
        models: Model config names (``conf/model/<name>.yaml``).
        seeds: Training seeds per model.
        dagger_models: Models also trained with DAgger on top of the same logs.
        data_root: Existing logs to train on; empty: collect them.
        report: Where the Markdown report goes (plots beside it); empty: the run folder.
        train_procs: Data-parallel local processes per training run, one thread each
            (``lnn_drive.train.launch.train_local``; 1: in-process).
        shard: ``i/n``: run only the i-th of n deterministic parts of the (model, seed)
            runs (``lnn_drive.eval.provenance.shard_items``); empty: all.
        results_dir: Where per-(model, seed, condition) result JSONs with provenance go
            (commit them, e.g. ``docs/results/<name>``); empty: ``<out_dir>/results``.
        rerun_stale: Recompute (and overwrite) results made by another config or code
            version instead of stopping with an error; they are never reused.
        roads: Road seed ranges (:class:`~lnn_drive.eval.provenance.RoadRanges`);
            evaluation drives the test roads.
    """

    models: tuple[str, ...] = tuple(MODEL_NAMES)
    seeds: tuple[int, ...] = (0, 1, 2)
    dagger_models: tuple[str, ...] = ("ncp_cfc",)
    data_root: str = ""
    report: str = ""
    train_procs: int = 2
    shard: str = ""
    results_dir: str = ""
    rerun_stale: bool = False
    roads: RoadRanges = field(default_factory=RoadRanges)

    def __post_init__(self) -> None:
        object.__setattr__(self, "models", tuple(self.models))
        object.__setattr__(self, "seeds", tuple(int(s) for s in self.seeds))
        object.__setattr__(self, "dagger_models", tuple(self.dagger_models))
        if not self.models:
            raise ValueError("benchmark.models is empty")
        if not self.seeds:
            raise ValueError("benchmark.seeds is empty")
        if self.train_procs < 1:
            raise ValueError(f"benchmark.train_procs must be >= 1, got {self.train_procs}")
        parse_shard(self.shard)
        if isinstance(self.roads, Mapping):
            object.__setattr__(self, "roads", RoadRanges(**self.roads))


@dataclass(frozen=True, kw_only=True)
class BenchmarkRecipe:
    """What every run of the benchmark shares.

    Attributes:
        models: Model name -> its config (every name of ``models`` and ``dagger_models``).
        train: The shared training budget and recipe (``seed`` is set per run).
        data: How the logs become windows (``roots`` and ``seed`` are set per run).
        dagger: DAgger's options for the ``dagger_models`` runs.
        collect: How the logs are collected when ``data_root`` is empty.
        env: The simulator.
        eval: Closed-loop evaluation of every run.
    """

    models: Mapping[str, ModelConfig]
    train: TrainConfig
    data: DataConfig
    dagger: DaggerConfig
    collect: CollectConfig
    env: EnvConfig
    eval: EvalConfig


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


def collect_data(bcfg: BenchmarkConfig, ccfg: CollectConfig, env: EnvConfig) -> str:
    """Collect the benchmark's expert logs once (reused when already complete)."""
    if bcfg.data_root:
        return bcfg.data_root
    root = Path(ccfg.out)
    if (root / "dataset.json").is_file():
        return str(root)
    from lnn_drive.envs.collect import collect

    collect(ccfg, env)
    return str(root)


def model_summary(policy: Policy) -> dict[str, Any]:
    """Parameter counts of a loaded policy (see ``lnn_drive/models/summary.py``)."""
    from lnn_drive.models.summary import summarise

    return summarise(policy).as_dict()


def run_one(
    *,
    model: str,
    seed: int,
    data_root: str,
    out: Path,
    recipe: BenchmarkRecipe,
    dagger: bool = False,
    train_fn: TrainFn | None = None,
    store: ResultStore | None = None,
    rerun_stale: bool = False,
) -> dict[str, Any]:
    """Train one model with one seed, evaluate it in every condition.

    Each condition's result is stored in ``store`` (default ``<out>/results``) keyed by
    the hash of the full configuration and the code version; a complete, fresh set is
    returned without rerunning, a stale one raises :class:`StaleResultError` (or is
    recomputed with ``rerun_stale``), never reused."""
    tag = f"{model}{'+dagger' if dagger else ''}/seed{seed}"
    run_dir = out / "runs" / tag
    store = store or ResultStore(out / "results")
    tc = dataclasses.replace(recipe.train, seed=seed)
    data = dataclasses.replace(recipe.data, roots=(data_root,), seed=seed)
    full_cfg = {
        "model": model,
        "model_config": recipe.models[model],
        "dagger": recipe.dagger if dagger else None,
        "seed": seed,
        "train": tc,
        "data": {**asdict(data), "identity": _data_identity(data_root)},
        "env": recipe.env,
        "eval": {k: v for k, v in asdict(recipe.eval).items() if k not in ("progress", "video")},
    }
    version = code_version()
    name = model + ("+dagger" if dagger else "")
    keys = {
        c.name: ResultKey(
            model=name,
            seed=seed,
            condition=c.name,
            config_hash=config_hash({**full_cfg, "condition": c.name}),
            code=version["code"],
        )
        for c in conditions(recipe.env.preset, recipe.eval)
    }
    try:
        stored = {c: store.load(k) for c, k in keys.items()}
    except StaleResultError:
        if not rerun_stale:
            raise
        stored = {}
    if stored and all(v is not None for v in stored.values()):
        first = next(iter(stored.values()))
        return {**first["run"], "metrics": {c: v["metrics"] for c, v in stored.items()}}
    t0 = time.perf_counter()
    if dagger:
        from lnn_drive.train.dagger import dagger as dagger_fn

        res = dagger_fn(
            recipe.dagger,
            train=tc,
            data=data,
            model=recipe.models[model],
            env=recipe.env,
            out_dir=run_dir,
            train_fn=train_fn,
        )
    else:
        if train_fn is None:
            from lnn_drive.train.bc import train as train_fn
        res = train_fn(tc, data=data, model=recipe.models[model], run_dir=run_dir)
    train_s = time.perf_counter() - t0
    policy = load_policy(res["best_checkpoint"])
    ev = evaluate_policy(policy, recipe.env, recipe.eval, out_dir=run_dir / "eval", label=tag)
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
    run_info = {k: v for k, v in result.items() if k != "metrics"}
    for c, k in keys.items():
        store.save(
            k,
            {"run": run_info, "metrics": ev["metrics"][c]},
            config={**full_cfg, "condition": c},
            commit=version["commit"],
        )
    write_json(result, run_dir / "result.json")
    return result


def _data_identity(data_root: str) -> str | None:
    """Hash of the training logs' ``dataset.json`` (what the data is, not where)."""
    meta = Path(data_root) / "dataset.json"
    return hashlib.sha256(meta.read_bytes()).hexdigest()[:16] if meta.is_file() else None


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
    recipe: str = "defaults",
) -> Path:
    """Markdown report: parameters (Table 2) and validation loss (Table 1), clean closed
    loop, robustness (Fig. 4 shape), the paper's tables side by side
    (:mod:`lnn_drive.eval.paper_tables`), and a plain statement of how the NCP compares."""
    conds = list(next(iter(results.values()))[0]["metrics"].keys())
    fig = _fig4(results, conds, path.with_name(path.stem + "_robustness.png"))
    lines = [
        "# Benchmark: NCP against baselines on the LaneKeeping simulator",
        "",
        f"Regenerate: `{command}`",
        "",
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


def benchmark(
    bcfg: BenchmarkConfig,
    recipe: BenchmarkRecipe,
    *,
    out_dir: str | Path,
    command: str = "lnn-drive benchmark",
    train_fn: TrainFn | None = None,
) -> dict[str, Any]:
    """Every model of ``bcfg`` (and DAgger on ``dagger_models``) trained on the same logs
    with ``recipe``, evaluated, reported under ``out_dir``.

    Args:
        bcfg: Which models and seeds.
        recipe: What every run shares.
        out_dir: Run folder (logs, runs, report).
        command: The command line that regenerates the report (printed in it).
        train_fn: Replaces :func:`~lnn_drive.train.bc.train` (same signature).
    """
    missing = [m for m in (*bcfg.models, *bcfg.dagger_models) if m not in recipe.models]
    if missing:
        raise ValueError(f"benchmark: no model config for {missing}")
    out = Path(out_dir)
    # evaluation drives the declared test roads
    recipe = dataclasses.replace(
        recipe, eval=dataclasses.replace(recipe.eval, seed=bcfg.roads.test_start)
    )
    store = ResultStore(bcfg.results_dir or out / "results")
    t0 = time.perf_counter()
    data_root = collect_data(bcfg, recipe.collect, recipe.env)
    results: dict[str, list[dict[str, Any]]] = {}
    if train_fn is None and bcfg.train_procs > 1:
        from functools import partial

        from lnn_drive.train.launch import train_local

        train_fn = partial(train_local, nproc=bcfg.train_procs, threads_per_proc=1)
    jobs = [(m, False) for m in bcfg.models] + [(m, True) for m in bcfg.dagger_models]
    mine = shard_items([(m, d, s) for m, d in jobs for s in bcfg.seeds], bcfg.shard)
    for model, dag in jobs:
        name = MODEL_NAMES.get(model, model) + (" + DAgger" if dag else "")
        todo = [s for s in bcfg.seeds if (model, dag, s) in mine]
        if not todo:
            continue
        results[name] = [
            run_one(
                model=model,
                seed=s,
                data_root=data_root,
                out=out,
                recipe=recipe,
                dagger=dag,
                train_fn=train_fn,
                store=store,
                rerun_stale=bcfg.rerun_stale,
            )
            for s in todo
        ]
        print(f"benchmark: {name} done ({len(todo)} seeds)", flush=True)
    if parse_shard(bcfg.shard)[1] > 1:
        print(f"benchmark: shard {bcfg.shard} done ({len(mine)} runs); results in {store.root}")
        return {"report": None, "results": results, "data_root": data_root}
    report = Path(bcfg.report) if bcfg.report else out / "benchmark.md"
    path = write_report(
        results,
        path=report,
        bcfg=bcfg,
        ecfg=recipe.eval,
        command=command,
        wall_s=time.perf_counter() - t0,
        recipe=recipe_summary(recipe.train),
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
