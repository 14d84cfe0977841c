"""`benchmark-drone`: the car benchmark's protocol on the drone task (issue 14, deliverable 9).

Every model (the 19-neuron NCPs and the LSTM, CfC, CT-RNN, GRU and CNN baselines, each with
four outputs ``vx, vy, vz, yaw_rate``) trains on the same summer expert flights with the same
budget, a learning rate chosen per model on validation loss
(:func:`~lnn_drive.eval.benchmark.tune_lr`), several training seeds; each run flies the same
held-out test scenes in every season (summer in distribution; autumn, winter, dusk, fog out
of distribution) and under frame noise. Each (model, seed, condition) result is stored as a
JSON keyed by the hash of its full configuration and the code version (refused when stale,
never reused), so the run is resumable and shardable like the car benchmark; the report
(:mod:`lnn_drive.eval.drone_benchmark_report`) is regenerated from those files alone.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from lnn_drive.data.dataset import DataConfig
from lnn_drive.envs.drone_collect import DroneCollectConfig
from lnn_drive.envs.drone_config import DroneConfig
from lnn_drive.eval.benchmark import (
    MODEL_NAMES,
    TrainFn,
    _data_key,
    _run_record,
    load_run,
    parallel_train_fn,
    run_code_version,
    save_run,
    tune_lr,
)
from lnn_drive.eval.drone import (
    DroneEvalConfig,
    condition_name,
    evaluate_flights,
    plot_paths,
)
from lnn_drive.eval.provenance import (
    ResultKey,
    ResultStore,
    config_hash,
    parse_shard,
    shard_items,
)
from lnn_drive.eval.report import write_json
from lnn_drive.eval.training_report import read_curve
from lnn_drive.models.config import ModelConfig
from lnn_drive.train.bc import TrainConfig

#: Display names of the drone benchmark's models (baselines as in the car benchmark).
DRONE_MODEL_NAMES = {
    "ncp_cfc_drone": "NCP (CfC, 19 neurons)",
    "ncp_ltc_drone": "NCP (LTC, 19 neurons)",
    "ncp_ltc_drone34": "NCP (LTC, 34 neurons)",
    **{k: v for k, v in MODEL_NAMES.items() if not k.startswith("ncp_")},
}

#: The drone-side modules a run imports (besides the car benchmark's
#: :data:`~lnn_drive.eval.benchmark.RUN_MODULES`): hashed into the code version.
DRONE_RUN_MODULES = (
    "lnn_drive.envs.fly_to_target",
    "lnn_drive.envs.drone_collect",
    "lnn_drive.eval.drone",
)


def drone_code_version() -> dict[str, Any]:
    """The code version of a drone benchmark result: the car benchmark's
    :func:`~lnn_drive.eval.benchmark.run_code_version` (taken in a fresh interpreter) with
    the drone's modules (:data:`DRONE_RUN_MODULES`) added."""
    return run_code_version(("lnn_drive.eval.drone_benchmark", *DRONE_RUN_MODULES))


def condition_names(ecfg: DroneEvalConfig) -> list[str]:
    """The conditions of ``ecfg`` in evaluation order (``summer``, ``summer+noise0.1``, ...),
    named as :class:`~lnn_drive.eval.drone.ConditionResult` names them."""
    return [condition_name(s, v) for s in ecfg.seasons for v in ecfg.noise_variances]


@dataclass(frozen=True, kw_only=True)
class DroneBenchmarkConfig:
    """Options of the drone benchmark (``benchmark`` in ``conf/benchmark_drone.yaml``).

    Attributes:
        models: Model config names (``conf/model/<name>.yaml``; every one must have four
            outputs, the drone's targets).
        seeds: Training seeds per model.
        reference: The model every other one is tested against (an NCP).
        data_root: Existing drone logs to train on; empty: collect them (``collect``).
        report: Where the Markdown report goes; empty: ``<out_dir>/benchmark_drone.md``.
        train_procs: Data-parallel local processes per training run, one thread each.
        shard: ``i/n``: only the i-th of n deterministic parts of the (model, seed) runs.
        results_dir: Where the result JSONs go (commit them); empty: ``<out_dir>/results``.
        rerun_stale: Recompute results made by another config or code version instead of
            stopping with an error; they are never reused.
        lr_grid: Learning rates swept per model on validation loss; empty: ``train.lr``.
        tune_seed: Training seed of the sweep runs.
    """

    models: tuple[str, ...] = ("ncp_cfc_drone", "ncp_ltc_drone", "lstm", "ctrnn", "cfc")
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    reference: str = "ncp_cfc_drone"
    data_root: str = ""
    report: str = ""
    train_procs: int = 2
    shard: str = ""
    results_dir: str = ""
    rerun_stale: bool = False
    lr_grid: tuple[float, ...] = ()
    tune_seed: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "models", tuple(str(m) for m in self.models))
        object.__setattr__(self, "seeds", tuple(int(s) for s in self.seeds))
        object.__setattr__(self, "lr_grid", tuple(float(x) for x in self.lr_grid))
        if not self.models:
            raise ValueError("benchmark.models is empty")
        if len(set(self.models)) != len(self.models):
            raise ValueError(f"benchmark.models lists a model twice: {list(self.models)}")
        if not self.seeds:
            raise ValueError("benchmark.seeds is empty")
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"benchmark.seeds lists a seed twice: {list(self.seeds)}")
        if self.reference not in self.models:
            raise ValueError(
                f"benchmark.reference={self.reference!r} is not one of benchmark.models "
                f"{list(self.models)}"
            )
        if any(not (x > 0 and x < float("inf")) for x in self.lr_grid):
            raise ValueError(f"benchmark.lr_grid must hold positive numbers, got {self.lr_grid}")
        if self.train_procs < 1:
            raise ValueError(f"benchmark.train_procs must be >= 1, got {self.train_procs}")
        parse_shard(self.shard)


@dataclass(frozen=True, kw_only=True)
class DroneBenchmarkRecipe:
    """What every run of the drone benchmark shares.

    Attributes:
        models: Model name -> its config.
        train: The shared training budget and recipe (``seed`` set per run).
        data: How the logs become windows (``roots`` and ``seed`` set per run).
        collect: How the expert flights are collected when ``data_root`` is empty.
        env: The simulator (its season is the training season; evaluation sets each one).
        eval: The closed-loop conditions and test scenes.
    """

    models: Mapping[str, ModelConfig]
    train: TrainConfig
    data: DataConfig
    collect: DroneCollectConfig
    env: DroneConfig
    eval: DroneEvalConfig


def check_scene_ranges(collect: DroneCollectConfig, ecfg: DroneEvalConfig) -> None:
    """Refuse test scenes that overlap the training flights' scenes."""
    train = range(collect.seed, collect.seed + collect.episodes)
    test = range(ecfg.first_seed, ecfg.first_seed + ecfg.episodes)
    if train.start < test.stop and test.start < train.stop:
        raise ValueError(
            f"eval.first_seed: test scenes {test.start}-{test.stop - 1} overlap the training "
            f"flights' scenes {train.start}-{train.stop - 1} (collect.seed, collect.episodes)"
        )


def collect_flights(bcfg: DroneBenchmarkConfig, recipe: DroneBenchmarkRecipe) -> str:
    """The benchmark's expert flights, collected once (an existing complete log is reused;
    its identity is part of every result's hash)."""
    if bcfg.data_root:
        if not (Path(bcfg.data_root) / "dataset.json").is_file():
            raise FileNotFoundError(f"benchmark.data_root={bcfg.data_root}: no dataset.json there")
        return bcfg.data_root
    root = Path(recipe.collect.out)
    if (root / "dataset.json").is_file():
        return str(root)
    from lnn_drive.envs.drone_collect import collect_drone

    collect_drone(recipe.collect, recipe.env)
    return str(root)


def run_drone_one(
    *,
    model: str,
    seed: int,
    data_root: str,
    out: Path,
    recipe: DroneBenchmarkRecipe,
    bcfg: DroneBenchmarkConfig,
    store: ResultStore,
    train_fn: TrainFn | None = None,
) -> dict[str, Any]:
    """Train ``model`` with ``seed`` (at the lr its sweep chose), fly every condition, store
    one result per condition. A complete fresh set is returned without rerunning; a stale
    one raises :class:`~lnn_drive.eval.provenance.StaleResultError` unless
    ``bcfg.rerun_stale``."""
    if train_fn is None:
        from lnn_drive.train.bc import train as train_fn
    tag = f"{model}/seed{seed}"
    run_dir = out / "runs" / tag
    tc = dataclasses.replace(recipe.train, seed=seed)
    data = dataclasses.replace(recipe.data, roots=(data_root,), seed=seed)
    full_cfg = {
        "task": "drone",
        "model": model,
        "model_config": recipe.models[model],
        "seed": seed,
        "train": tc,
        "data": _data_key(data, data_root),
        "env": recipe.env,
        "eval": {k: v for k, v in asdict(recipe.eval).items() if k != "keep_paths"},
        "lr_grid": list(bcfg.lr_grid),
        "tune_seed": bcfg.tune_seed if bcfg.lr_grid else None,
    }
    version = drone_code_version()
    keys = {
        c: ResultKey(
            model=model,
            seed=seed,
            condition=c,
            config_hash=config_hash({**full_cfg, "condition": c}),
            code=version["code"],
        )
        for c in condition_names(recipe.eval)
    }
    done = load_run(store, keys, rerun_stale=bcfg.rerun_stale)
    if done is not None:
        return done
    sweep = tune_lr(
        model=model,
        data_root=data_root,
        out=out,
        recipe=recipe,  # type: ignore[arg-type]  (reads models, train, data)
        bcfg=bcfg,  # type: ignore[arg-type]  (reads lr_grid, tune_seed)
        store=store,
        train_fn=train_fn,
        rerun_stale=bcfg.rerun_stale,
    )
    lr = float(sweep["lr"])
    t0 = time.perf_counter()
    res = train_fn(
        dataclasses.replace(tc, lr=lr), data=data, model=recipe.models[model], run_dir=run_dir
    )
    train_s = time.perf_counter() - t0
    rec = _run_record(res, lr=lr, tc=tc, window=data.window, secs=train_s)
    from lnn_drive.models.summary import summarise
    from lnn_drive.train.checkpoint import load_policy

    policy = load_policy(res["best_checkpoint"])
    t0 = time.perf_counter()
    flown = evaluate_flights(policy, recipe.env, recipe.eval)
    eval_s = time.perf_counter() - t0
    (run_dir / "eval").mkdir(parents=True, exist_ok=True)
    plot_paths(flown, run_dir / "eval" / "paths.png")
    metrics = {r.name: r.to_dict() for r in flown}
    result = {
        "model": model,
        "seed": seed,
        "checkpoint": str(res["best_checkpoint"]),
        "lr": lr,
        "val_loss": float(res.get("val_loss", float("nan"))),
        "train_steps": int(res.get("steps", 0)),
        "train_s": train_s,
        "eval_s": eval_s,
        "budget": {k: rec[k] for k in ("steps", "frames", "minutes", "stopped", "best_step")},
        "curve": read_curve(run_dir),
        "summary": summarise(policy).as_dict(),
        "metrics": metrics,
    }
    save_run(store, keys, result, config=full_cfg, commit=version["commit"])
    write_json(result, run_dir / "result.json")
    return result


def drone_benchmark(
    bcfg: DroneBenchmarkConfig,
    recipe: DroneBenchmarkRecipe,
    *,
    out_dir: str | Path,
    command: str = "lnn-drive benchmark-drone",
    train_fn: TrainFn | None = None,
) -> dict[str, Any]:
    """Every (model, seed) run of this shard, then (unsharded) the report.

    Args:
        bcfg: Which models, seeds, shard, where results go.
        recipe: What every run shares.
        out_dir: Run folder (logs, runs, report).
        command: The command line that regenerates the report (printed in it).
        train_fn: Replaces :func:`~lnn_drive.train.bc.train` (same signature).
    """
    missing = [m for m in bcfg.models if m not in recipe.models]
    if missing:
        raise ValueError(f"benchmark: no model config for {missing}")
    check_scene_ranges(recipe.collect, recipe.eval)
    out = Path(out_dir)
    store = ResultStore(bcfg.results_dir or out / "results")
    data_root = collect_flights(bcfg, recipe)
    train_fn = train_fn or parallel_train_fn(bcfg.train_procs)
    mine = shard_items([(m, s) for m in bcfg.models for s in bcfg.seeds], bcfg.shard)
    results: dict[str, list[dict[str, Any]]] = {}
    for model in bcfg.models:
        todo = [s for s in bcfg.seeds if (model, s) in mine]
        if not todo:
            continue
        results[model] = []
        for s in todo:
            r = run_drone_one(
                model=model,
                seed=s,
                data_root=data_root,
                out=out,
                recipe=recipe,
                bcfg=bcfg,
                store=store,
                train_fn=train_fn,
            )
            results[model].append(r)
            first = condition_names(recipe.eval)[0]
            print(
                f"benchmark-drone: {model} seed {s}: {first} success "
                f"{r['metrics'][first]['success_rate']:.1%}",
                flush=True,
            )
    if parse_shard(bcfg.shard)[1] > 1:
        print(
            f"benchmark-drone: shard {bcfg.shard} done ({len(mine)} runs); results in {store.root}"
        )
        return {"report": None, "results": results, "data_root": data_root}
    from lnn_drive.eval.drone_benchmark_report import drone_report_from_results

    report = Path(bcfg.report) if bcfg.report else out / "benchmark_drone.md"
    rep = drone_report_from_results(
        store.root,
        report=report,
        command=command,
        expect_models=list(bcfg.models),
        expect_seeds=list(bcfg.seeds),
        reference=bcfg.reference,
    )
    print(f"report: {rep['report']}")
    return {"report": rep["report"], "results": results, "data_root": data_root}


__all__ = [
    "DRONE_MODEL_NAMES",
    "DroneBenchmarkConfig",
    "DroneBenchmarkRecipe",
    "condition_names",
    "drone_benchmark",
    "drone_code_version",
    "run_drone_one",
]
