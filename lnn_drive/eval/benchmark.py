"""`benchmark`: every controller on the same logs, the same budget and several seeds,
evaluated clean, under frame noise and out of distribution; a Markdown report with plots.

It reproduces the shape of the NCP paper's Table 1 (passive loss), Table 2 (parameters)
and Fig. 4 (crashes under increasing input noise) on this project's simulator, whatever the
outcome. Each (model, seed) run stores its result as JSON, so an interrupted benchmark
resumes where it stopped.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from lnn_drive.data.dataset import DataConfig
from lnn_drive.envs.collect import CollectConfig
from lnn_drive.envs.config import EnvConfig
from lnn_drive.eval.evaluate import EvalConfig, conditions, evaluate_policy, load_policy
from lnn_drive.eval.provenance import (
    ResultKey,
    ResultStore,
    RoadRanges,
    StaleResultError,
    config_hash,
    parse_shard,
    shard_items,
)
from lnn_drive.eval.report import write_json
from lnn_drive.eval.training_report import (
    concat_curves,
    read_curve,
)
from lnn_drive.models.config import ModelConfig
from lnn_drive.models.policy import Policy
from lnn_drive.train.bc import NonFiniteLossError, TrainConfig
from lnn_drive.train.dagger import DaggerConfig

#: Modules a run imports lazily; imported before its code version is taken, so the set of
#: hashed sources (:func:`~lnn_drive.eval.provenance.code_version`) is the same on the
#: first run of a process, on later ones and on a resumed session.
RUN_MODULES = (
    "lnn_drive.envs",
    "lnn_drive.envs.collect",
    "lnn_drive.models.inference",
    "lnn_drive.models.safety",
    "lnn_drive.models.summary",
    "lnn_drive.train.bc",
    "lnn_drive.train.checkpoint",
    "lnn_drive.train.dagger",
    "lnn_drive.train.hub",
    "lnn_drive.train.launch",
)

#: Modules that only present stored figures (report tables, plots, statistics, learning
#: curves read back from ``metrics.csv``): left out of the results' code version, so a
#: better report never makes committed results stale.
PRESENTATION_MODULES = (
    "lnn_drive.eval.benchmark_report",
    "lnn_drive.eval.drone_benchmark_report",
    "lnn_drive.eval.figures",
    "lnn_drive.eval.html_report",
    "lnn_drive.eval.paper_tables",
    "lnn_drive.eval.stats",
    "lnn_drive.eval.training_report",
)


def run_code_version(extra: tuple[str, ...] = ()) -> dict[str, Any]:
    """:func:`~lnn_drive.eval.provenance.code_version` of a run: the sources of the modules
    that importing :data:`RUN_MODULES` (plus ``extra``, plus the simulator's module, which
    ``gymnasium.make`` imports by entry-point string) pulls in, presentation modules left
    out.

    It is taken in a fresh interpreter, never from this process's ``sys.modules``: the set
    of imported modules here depends on the entry point (the CLI imports the command layer,
    a test does not) and on what earlier runs imported lazily (the first evaluation imports
    the FastActor), and a code version that moves with it made a resumed run refuse results
    of its own commit. Computed once per process and ``extra``."""
    return dict(_clean_code_version(tuple(extra)))


_CODE_VERSION_SCRIPT = """
import importlib, json, sys
import gymnasium
from lnn_drive.envs.factory import ENV_ID
from lnn_drive.eval.provenance import code_version
names = json.loads(sys.argv[1])
entry = gymnasium.spec(ENV_ID).entry_point
for name in names + ([entry.split(":")[0]] if isinstance(entry, str) else []):
    importlib.import_module(name)
print(json.dumps(code_version(conf_files=(), exclude=json.loads(sys.argv[2]))))
"""


@functools.cache
def _clean_code_version(extra: tuple[str, ...]) -> dict[str, Any]:
    import os
    import subprocess
    import sys

    from lnn_drive import PROJECT_ROOT

    # No conf/ files: what they contribute to a run is its resolved configuration, which
    # the config hash already covers in full, so an edit to an unrelated YAML (a drone
    # experiment) must not make hours of car results stale.
    names = ["lnn_drive.eval.benchmark", *RUN_MODULES, *extra]
    path = os.pathsep.join(p for p in (str(PROJECT_ROOT), os.environ.get("PYTHONPATH")) if p)
    proc = subprocess.run(
        [sys.executable, "-c", _CODE_VERSION_SCRIPT, json.dumps(names)]
        + [json.dumps(list(PRESENTATION_MODULES))],
        cwd=PROJECT_ROOT,
        env={**os.environ, "PYTHONPATH": path},
        capture_output=True,
        text=True,
        timeout=600,
    )
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"benchmark: could not take the code version ({last})")
    return json.loads(proc.stdout.strip().splitlines()[-1])


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

#: Run kinds: behaviour cloning, DAgger fine-tuned from the BC run, and the BC run
#: fine-tuned on its own logs for the same steps (DAgger's equal-budget control).
KIND_SUFFIX = {"bc": "", "bc_more": "+bc_more", "dagger": "+dagger"}
KIND_LABEL = {"bc": "", "bc_more": " + BC (equal budget)", "dagger": " + DAgger"}


def display_name(name: str) -> str:
    """``ncp_cfc+dagger`` -> ``NCP (CfC) + DAgger`` (a stored result's model name)."""
    model, _, suffix = name.partition("+")
    kind = next((k for k, v in KIND_SUFFIX.items() if v == f"+{suffix}" and suffix), "bc")
    return MODEL_NAMES.get(model, model) + KIND_LABEL[kind]


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
        lr_grid: Learning rates swept per model on validation loss (one run each, seed
            ``tune_seed``, the shared budget); the best trains every seed. Empty:
            ``train.lr`` for every model.
        tune_seed: Training seed of the sweep runs.
        dagger_steps: Optimiser steps of each DAgger round's fine-tune from the BC
            checkpoint; the BC control (``+bc_more``) gets ``rounds * dagger_steps``.
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
    lr_grid: tuple[float, ...] = ()
    tune_seed: int = 0
    dagger_steps: int = 200

    def __post_init__(self) -> None:
        object.__setattr__(self, "models", tuple(self.models))
        object.__setattr__(self, "lr_grid", tuple(float(x) for x in self.lr_grid))
        if any(not (x > 0 and math.isfinite(x)) for x in self.lr_grid):
            raise ValueError(f"benchmark.lr_grid must hold positive numbers, got {self.lr_grid}")
        if self.dagger_steps < 1:
            raise ValueError(f"benchmark.dagger_steps must be >= 1, got {self.dagger_steps}")
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


#: Data options that say where things are on this machine, not what a run trains on:
#: left out of the hashed config, so a run resumed on another machine (other paths, the
#: logs re-collected there) keeps its results fresh; the logs themselves are identified
#: by :func:`_data_identity`.
_MACHINE_DATA_FIELDS = ("roots", "cache_dir")


def _data_identity(data_root: str) -> str | None:
    """Hash of what the training logs are, not where or when they were written:
    ``dataset.json`` without its ``created`` time, plus every episode's ``episode.json``
    and ``signals.csv`` (the labels; the frames are rendered from the same seeds). The
    same collection re-run on another machine has the same identity."""
    root = Path(data_root)
    meta = root / "dataset.json"
    if not meta.is_file():
        return None
    doc = json.loads(meta.read_text())
    doc.pop("created", None)
    h = hashlib.sha256(json.dumps(doc, sort_keys=True).encode())
    for ep in doc.get("episodes", []):
        for name in ("episode.json", "signals.csv"):
            f = root / "episodes" / str(ep.get("name", "")) / name
            h.update(f"{ep.get('name')}/{name}\0".encode())
            h.update(f.read_bytes() if f.is_file() else b"<missing>")
    return h.hexdigest()[:16]


def _data_key(data: DataConfig, data_root: str) -> dict[str, Any]:
    """The data part of a run's hashed config: its options without the machine's paths
    (:data:`_MACHINE_DATA_FIELDS`), plus the logs' :func:`_data_identity`."""
    d = {k: v for k, v in asdict(data).items() if k not in _MACHINE_DATA_FIELDS}
    return {**d, "identity": _data_identity(data_root)}


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


def _sweep_path(store: ResultStore, model: str) -> Path:
    return store.root / "sweeps" / f"{model}.json"


def load_sweeps(root: str | Path) -> dict[str, dict[str, Any]]:
    """Model name -> its stored learning-rate sweep (``<root>/sweeps/<model>.json``)."""
    out = {}
    for p in sorted(Path(root).glob("sweeps/*.json")):
        out[p.stem] = json.loads(p.read_text())["sweep"]
    return out


def _run_record(res: Mapping[str, Any], *, lr: float, tc: TrainConfig, window: int, secs: float):
    steps = int(res.get("steps", 0))
    return {
        "lr": lr,
        "val_loss": float(res.get("val_loss", float("nan"))),
        "steps": steps,
        "frames": steps * tc.batch_size * window,
        "minutes": secs / 60,
        "stopped": res.get("stopped"),
        "best_step": res.get("best_step"),
    }


def tune_lr(
    *,
    model: str,
    data_root: str,
    out: Path,
    recipe: BenchmarkRecipe,
    bcfg: BenchmarkConfig,
    store: ResultStore,
    train_fn: TrainFn,
    rerun_stale: bool = False,
) -> dict[str, Any]:
    """The learning-rate sweep of ``model`` on validation loss (stored, with provenance, in
    ``<results>/sweeps/<model>.json`` and reused by every shard; a stale one is refused
    unless ``rerun_stale``). An lr whose loss diverges counts as infinitely bad.

    Returns:
        ``{"lr": chosen, "grid", "seed", "runs": [{lr, val_loss, steps, frames, minutes,
        stopped, best_step, curve}]}``; without a grid only ``lr`` (``train.lr``).
    """
    if not bcfg.lr_grid:
        return {"lr": recipe.train.lr, "grid": [], "runs": []}
    tc = dataclasses.replace(recipe.train, seed=bcfg.tune_seed)
    data = dataclasses.replace(recipe.data, roots=(data_root,), seed=bcfg.tune_seed)
    cfg = {
        "model": model,
        "model_config": recipe.models[model],
        "train": tc,
        "data": _data_key(data, data_root),
        "lr_grid": list(bcfg.lr_grid),
    }
    h, version = config_hash(cfg), run_code_version()
    path = _sweep_path(store, model)
    if path.is_file():
        doc = json.loads(path.read_text())
        fresh = doc.get("config_hash") == h and doc.get("code") == version["code"]
        if fresh and version["code"] != "unknown":
            return doc["sweep"]
        if not rerun_stale:
            raise StaleResultError(
                f"{path}: stale learning-rate sweep refused (config hash "
                f"{doc.get('config_hash')} vs {h}, code {doc.get('code')} vs "
                f"{version['code']}); delete it or run with benchmark.rerun_stale=true"
            )
    runs = []
    for lr in bcfg.lr_grid:
        run_dir = out / "runs" / model / "sweep" / f"lr{lr:g}"
        t0 = time.perf_counter()
        try:
            res = train_fn(
                dataclasses.replace(tc, lr=lr),
                data=data,
                model=recipe.models[model],
                run_dir=run_dir,
            )
        except NonFiniteLossError as e:
            res = {"val_loss": float("inf"), "stopped": f"diverged ({e})"}
        rec = _run_record(res, lr=lr, tc=tc, window=data.window, secs=time.perf_counter() - t0)
        runs.append({**rec, "curve": read_curve(run_dir)})
        print(f"benchmark: {model} lr={lr:g}: val loss {rec['val_loss']:.4g}", flush=True)
    finite = [r for r in runs if math.isfinite(r["val_loss"])]
    if not finite:
        raise RuntimeError(f"benchmark: every lr of {list(bcfg.lr_grid)} diverged for {model}")
    best = min(finite, key=lambda r: r["val_loss"])
    sweep = {"lr": best["lr"], "grid": list(bcfg.lr_grid), "seed": bcfg.tune_seed, "runs": runs}
    doc = {
        "config_hash": h,
        "code": version["code"],
        "commit": version["commit"],
        "config": cfg,
        "sweep": sweep,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(doc, indent=1, sort_keys=True, default=_json_default) + "\n")
    tmp.replace(path)
    return sweep


def _json_default(o: Any) -> Any:
    if dataclasses.is_dataclass(o):
        return asdict(o)
    if isinstance(o, tuple | set):
        return list(o)
    return str(o)


def parallel_train_fn(procs: int) -> TrainFn | None:
    """``procs`` data-parallel local processes, one thread each
    (:func:`~lnn_drive.train.launch.train_local`); ``None`` (in-process) for one."""
    if procs <= 1:
        return None
    from functools import partial

    from lnn_drive.train.launch import train_local

    return partial(train_local, nproc=procs, threads_per_proc=1)


def load_run(
    store: ResultStore, keys: Mapping[str, ResultKey], *, rerun_stale: bool
) -> dict[str, Any] | None:
    """The stored run of ``keys`` (condition -> key) with ``metrics`` per condition, or
    ``None`` when any condition is missing, or stale and ``rerun_stale`` (else
    :class:`StaleResultError`)."""
    try:
        stored = {c: store.load(k) for c, k in keys.items()}
    except StaleResultError:
        if not rerun_stale:
            raise
        return None
    if not stored or any(v is None for v in stored.values()):
        return None
    first = next(iter(stored.values()))
    return {**first["run"], "metrics": {c: v["metrics"] for c, v in stored.items()}}


def save_run(
    store: ResultStore,
    keys: Mapping[str, ResultKey],
    result: Mapping[str, Any],
    *,
    config: Mapping[str, Any],
    commit: str | None,
) -> None:
    """One result file per condition of ``keys``: the run's record without the other
    conditions' metrics, its own metrics, and ``config`` with the condition."""
    run_info = {k: v for k, v in result.items() if k != "metrics"}
    for c, k in keys.items():
        store.save(
            k,
            {"run": run_info, "metrics": result["metrics"][c]},
            config={**config, "condition": c},
            commit=commit,
        )


def run_one(
    *,
    model: str,
    seed: int,
    data_root: str,
    out: Path,
    recipe: BenchmarkRecipe,
    dagger: bool = False,
    kind: str = "bc",
    bcfg: BenchmarkConfig | None = None,
    train_fn: TrainFn | None = None,
    store: ResultStore | None = None,
    rerun_stale: bool = False,
) -> dict[str, Any]:
    """Train one model with one seed, evaluate it in every condition.

    ``kind`` is ``bc`` (behaviour cloning at the lr :func:`tune_lr` chose), ``dagger``
    (``dagger=True`` means this: DAgger rounds fine-tuning the ``bc`` run's best
    checkpoint, ``benchmark.dagger_steps`` steps each) or ``bc_more`` (the same number of
    fine-tune steps on the original logs only: BC at DAgger's budget).

    Each condition's result is stored in ``store`` (default ``<out>/results``) keyed by
    the hash of the full configuration and the code version; a complete, fresh set is
    returned without rerunning, a stale one raises :class:`StaleResultError` (or is
    recomputed with ``rerun_stale``), never reused."""
    kind = "dagger" if dagger else kind
    if kind not in KIND_SUFFIX:
        raise ValueError(f"benchmark: unknown run kind {kind!r}")
    bcfg = bcfg or BenchmarkConfig(models=(model,))
    name = model + KIND_SUFFIX[kind]
    tag = f"{name}/seed{seed}"
    run_dir = out / "runs" / tag
    store = store or ResultStore(out / "results")
    if train_fn is None:
        from lnn_drive.train.bc import train as train_fn
    tc = dataclasses.replace(recipe.train, seed=seed)
    data = dataclasses.replace(recipe.data, roots=(data_root,), seed=seed)
    full_cfg = {
        "model": model,
        "model_config": recipe.models[model],
        "dagger": recipe.dagger if kind != "bc" else None,
        "seed": seed,
        "train": tc,
        "data": _data_key(data, data_root),
        "env": recipe.env,
        "eval": {k: v for k, v in asdict(recipe.eval).items() if k not in ("progress", "video")},
        "kind": kind,
        "lr_grid": list(bcfg.lr_grid),
        "tune_seed": bcfg.tune_seed if bcfg.lr_grid else None,
        "dagger_steps": bcfg.dagger_steps if kind != "bc" else None,
    }
    version = run_code_version()
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
    done = load_run(store, keys, rerun_stale=rerun_stale)
    if done is not None:
        return done
    extra: dict[str, Any] = {}
    shared = {"data_root": data_root, "out": out, "recipe": recipe, "bcfg": bcfg}
    shared |= {"store": store, "train_fn": train_fn, "rerun_stale": rerun_stale}
    if kind == "bc":
        sweep = tune_lr(model=model, **shared)
        lr = float(sweep["lr"])
        t0 = time.perf_counter()  # the run's own minutes, not the sweep's
        res = train_fn(
            dataclasses.replace(tc, lr=lr), data=data, model=recipe.models[model], run_dir=run_dir
        )
        curve = read_curve(run_dir)
        steps_before = 0
    else:
        bc = run_one(model=model, seed=seed, kind="bc", **shared)
        lr, ckpt = float(bc["lr"]), bc["checkpoint"]
        t0 = time.perf_counter()
        if not Path(ckpt).is_file():  # results from another machine: remake the checkpoint
            ckpt = train_fn(
                dataclasses.replace(tc, lr=lr),
                data=data,
                model=recipe.models[model],
                run_dir=out / "runs" / model / f"seed{seed}",
            )["best_checkpoint"]
        # a fine-tune: fresh optimiser and schedule over exactly its steps, no early stop
        ft = dataclasses.replace(tc, lr=lr, max_steps=bcfg.dagger_steps, patience=None)
        steps_before = int(bc.get("budget", {}).get("steps", bc.get("train_steps", 0)))
        if kind == "dagger":
            from lnn_drive.train.dagger import dagger as dagger_fn

            res = dagger_fn(
                recipe.dagger,
                train=ft,
                data=data,
                model=recipe.models[model],
                env=recipe.env,
                out_dir=run_dir,
                train_fn=train_fn,
                init_checkpoint=ckpt,
            )
            rounds = res["rounds"][1:]
            res = {**res, "steps": sum(int(h["train"].get("steps", 0)) for h in rounds)}
            curve = concat_curves([read_curve(run_dir / f"round_{h['round']}") for h in rounds])
            extra["dagger_frames"] = sum(int(h["collect"]["frames"]) for h in rounds)
        else:
            res = train_fn(
                dataclasses.replace(
                    ft, max_steps=recipe.dagger.rounds * bcfg.dagger_steps, init_checkpoint=ckpt
                ),
                data=data,
                model=recipe.models[model],
                run_dir=run_dir,
            )
            curve = read_curve(run_dir)
        extra["bc_steps"] = steps_before
    train_s = time.perf_counter() - t0
    rec = _run_record(res, lr=lr, tc=tc, window=data.window, secs=train_s)
    budget = {
        "steps": steps_before + rec["steps"],
        "frames": (steps_before + rec["steps"]) * tc.batch_size * data.window,
        "minutes": rec["minutes"],
        "stopped": rec["stopped"],
        "best_step": rec["best_step"],
        **extra,
    }
    policy = load_policy(res["best_checkpoint"])
    ev = evaluate_policy(policy, recipe.env, recipe.eval, out_dir=run_dir / "eval", label=tag)
    result = {
        "model": model,
        "kind": kind,
        "dagger": kind == "dagger",
        "seed": seed,
        "checkpoint": str(res["best_checkpoint"]),
        "lr": lr,
        "val_loss": float(res.get("val_loss", float("nan"))),
        "train_steps": int(res.get("steps", 0)),
        "train_s": train_s,
        "budget": budget,
        "curve": curve,
        "summary": model_summary(policy),
        "metrics": ev["metrics"],
    }
    save_run(store, keys, result, config=full_cfg, commit=version["commit"])
    write_json(result, run_dir / "result.json")
    return result


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
    if bcfg.dagger_models and recipe.dagger.rounds < 1:
        raise ValueError(
            "benchmark: dagger.rounds must be >= 1 when benchmark.dagger_models is set"
        )
    out = Path(out_dir)
    # evaluation drives the declared test roads
    recipe = dataclasses.replace(
        recipe, eval=dataclasses.replace(recipe.eval, seed=bcfg.roads.test_start)
    )
    store = ResultStore(bcfg.results_dir or out / "results")
    t0 = time.perf_counter()
    data_root = collect_data(bcfg, recipe.collect, recipe.env)
    results: dict[str, list[dict[str, Any]]] = {}
    train_fn = train_fn or parallel_train_fn(bcfg.train_procs)
    # DAgger and its equal-budget BC control fine-tune the model's BC run of each seed
    jobs = [(m, "bc") for m in bcfg.models] + [
        (m, k) for m in bcfg.dagger_models for k in ("bc_more", "dagger")
    ]
    mine = shard_items([(m, k, s) for m, k in jobs for s in bcfg.seeds], bcfg.shard)
    for model, kind in jobs:
        name = MODEL_NAMES.get(model, model) + KIND_LABEL[kind]
        todo = [s for s in bcfg.seeds if (model, kind, s) in mine]
        if not todo:
            continue
        results[name] = [
            run_one(
                model=model,
                seed=s,
                data_root=data_root,
                out=out,
                recipe=recipe,
                kind=kind,
                bcfg=bcfg,
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
    from lnn_drive.eval.benchmark_report import recipe_summary, write_report

    report = Path(bcfg.report) if bcfg.report else out / "benchmark.md"
    path = write_report(
        results,
        path=report,
        bcfg=bcfg,
        ecfg=recipe.eval,
        command=command,
        wall_s=time.perf_counter() - t0,
        recipe=recipe_summary(recipe.train),
        sweeps=load_sweeps(store.root),
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
