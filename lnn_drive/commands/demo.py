"""`demo`: the whole pipeline on built-in defaults, in one command.

1. collect expert driving logs in the simulator (with DART noise for recovery data);
2. train the CNN + 19-neuron NCP by behaviour cloning;
3. evaluate it in closed loop on held-out roads (PilotNet autonomy);
4. render a saliency video (VisualBackProp overlay, steering, neuron activities);
5. write a Markdown report, printing where each artefact is.

    lnn-drive demo [model=ncp_ltc] [train.max_minutes=5] [eval.distance_km=2]

The recipe is ``conf/experiment/demo.yaml``; ``lnn-drive train +experiment=demo
data.roots=[...]`` trains the same.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from lnn_drive.commands.collect import collect_config
from lnn_drive.commands.config import env_config, eval_config, to_dataclass, train_configs
from lnn_drive.data.dataset import DataConfig
from lnn_drive.envs.collect import CollectConfig, collect
from lnn_drive.envs.config import EnvConfig
from lnn_drive.eval.evaluate import EvalConfig, evaluate_policy
from lnn_drive.eval.report import write_json
from lnn_drive.models.config import ModelConfig
from lnn_drive.models.policy import Policy
from lnn_drive.train.bc import TrainConfig
from lnn_drive.train.checkpoint import load_policy
from lnn_drive.train.launch import train_local

CONFIG = "demo"


@dataclass(frozen=True, kw_only=True)
class DemoConfig:
    """The demo's own options (``demo`` in ``conf/demo.yaml``).

    Attributes:
        target_autonomy: Autonomy the report calls met.
        threads: Torch threads of the demo process (0: torch default).
        train_procs: Data-parallel training processes, one thread each (1: in-process).
        saliency_steps: Frames of ``saliency.mp4`` (0: skip).
    """

    target_autonomy: float = 0.98
    threads: int = 0
    train_procs: int = 2
    saliency_steps: int = 300

    def __post_init__(self) -> None:
        if not 0 < self.target_autonomy <= 1:
            raise ValueError(f"demo.target_autonomy must be in (0, 1], got {self.target_autonomy}")
        if self.train_procs < 1:
            raise ValueError(f"demo.train_procs must be >= 1, got {self.train_procs}")


def _stage(name: str) -> None:
    print(f"\n== {name}", flush=True)


def collect_stage(ccfg: CollectConfig, env: EnvConfig) -> str:
    """Stage 1: expert logs."""
    _stage("1/5 collect expert logs")
    collect(ccfg, env)
    return ccfg.out


def train_stage(
    tc: TrainConfig, data: DataConfig, model: ModelConfig, out: Path, procs: int
) -> dict[str, Any]:
    """Stage 2: behaviour cloning, as ``procs`` data-parallel single-thread processes (on
    small CPUs this nearly doubles throughput over one process with several threads)."""
    _stage(f"2/5 train {model.name}")
    return train_local(tc, data=data, model=model, run_dir=out, nproc=procs, threads_per_proc=1)


def evaluate_stage(policy: Policy, env: EnvConfig, ecfg: EvalConfig, out: Path) -> dict[str, Any]:
    """Stage 3: closed loop on held-out roads."""
    _stage("3/5 closed-loop evaluation on held-out roads")
    return evaluate_policy(policy, env, ecfg, out_dir=out, label=policy.model_name)


def saliency_stage(
    policy: Policy, env: EnvConfig, *, steps: int, seed: int, path: Path
) -> Path | None:
    """Stage 4: the saliency video (``steps`` = 0: skipped)."""
    from lnn_drive.envs import make_env
    from lnn_drive.explain.video import saliency_video

    _stage("4/5 saliency video")
    if steps <= 0:
        return None
    e = make_env(env, crash_mode="intervene")
    try:
        return saliency_video(policy, e, steps=steps, seed=seed, path=path)
    finally:
        e.close()


def write_report(
    out: Path,
    *,
    model: str,
    ev: dict[str, Any],
    target: float,
    timings: dict[str, float],
    artefacts: dict[str, str],
) -> Path:
    """Stage 5: ``report.md`` (written atomically)."""
    _stage("5/5 report")
    clean = ev["metrics"]["clean"]
    passed = clean["autonomy"] >= target
    lines = [
        f"# lnn_drive demo: {model}",
        "",
        f"Autonomy on {clean['distance_km']:.2f} km of held-out roads: "
        f"**{100 * clean['autonomy']:.2f}%** (target {100 * target:.0f}%: "
        f"{'met' if passed else 'NOT met'}); {clean['interventions']} interventions.",
        "",
        ev["table"],
        "",
        "| stage | seconds |",
        "|---|---:|",
        *[f"| {k} | {v:.1f} |" for k, v in timings.items()],
        "",
        "Artefacts:",
        "",
        *[f"- {k}: `{v}`" for k, v in artefacts.items()],
        "",
    ]
    report = out / "report.md"
    tmp = report.with_name(".report.md.tmp")
    tmp.write_text("\n".join(lines))
    tmp.replace(report)
    return report


def html_stage(
    report: Path,
    policy: Policy,
    env: EnvConfig,
    *,
    seed: int,
    video: Path | None,
    train_run: str | None,
) -> Path:
    """``report.html`` beside ``report.md``: everything embedded, plus the learning curves
    and a saliency grid."""
    from lnn_drive.eval.html_report import write_html_report
    from lnn_drive.explain.report_figures import saliency_grid_along_drive

    grid = saliency_grid_along_drive(policy, env, report.parent / "saliency_grid.png", seed=seed)
    run = Path(train_run) if train_run else report.parent / "train"
    return write_html_report(
        report,
        extra_media=[p for p in (grid, video) if p is not None],
        learning_curves={policy.model_name: run / "metrics.csv"},
    )


def demo(
    dcfg: DemoConfig,
    *,
    collect_cfg: CollectConfig,
    train: TrainConfig,
    data: DataConfig,
    model: ModelConfig,
    env: EnvConfig,
    ecfg: EvalConfig,
    out: Path,
) -> dict[str, Any]:
    """collect -> train -> evaluate -> saliency video -> report; returns the summary."""
    import torch

    if dcfg.threads:
        torch.set_num_threads(dcfg.threads)
    timings: dict[str, float] = {}
    t_all = t0 = time.perf_counter()
    data_root = collect_stage(collect_cfg, env)
    timings["collect"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    data = dataclasses.replace(data, roots=(data_root,))
    res = train_stage(train, data, model, out / "train", dcfg.train_procs)
    timings["train"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    policy = load_policy(res["best_checkpoint"])
    ev = evaluate_stage(policy, env, ecfg, out / "eval")
    timings["evaluate"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    video = saliency_stage(
        policy, env, steps=dcfg.saliency_steps, seed=ecfg.seed, path=out / "saliency.mp4"
    )
    timings["saliency"] = time.perf_counter() - t0
    timings["total"] = time.perf_counter() - t_all
    artefacts = {
        "data": str(data_root),
        "checkpoint": str(res["best_checkpoint"]),
        "train_run": str(res.get("run_dir", out / "train")),
        **{f"eval_{k}": v for k, v in ev["files"].items()},
    }
    if video is not None:
        artefacts["saliency_video"] = str(video)
    report = write_report(
        out,
        model=model.name,
        ev=ev,
        target=dcfg.target_autonomy,
        timings=timings,
        artefacts=artefacts,
    )
    artefacts["report"] = str(report)
    artefacts["report_html"] = str(
        html_stage(report, policy, env, seed=ecfg.seed, video=video, train_run=res.get("run_dir"))
    )
    clean = ev["metrics"]["clean"]
    passed = clean["autonomy"] >= dcfg.target_autonomy
    summary = {
        "autonomy": clean["autonomy"],
        "passed": passed,
        "metrics": ev["metrics"],
        "timings_s": timings,
        "val_loss": res.get("val_loss"),
        "artefacts": artefacts,
    }
    write_json(summary, out / "demo.json")
    print("\n" + ev["table"])
    print(
        f"\nautonomy {100 * clean['autonomy']:.2f}% on held-out roads "
        f"({'meets' if passed else 'below'} the {100 * dcfg.target_autonomy:.0f}% target); "
        f"total {timings['total'] / 60:.1f} min"
    )
    for k, v in artefacts.items():
        print(f"{k}: {v}")
    return summary


def run(cfg: DictConfig) -> int:
    """Build the typed configs of every stage and run the demo."""
    out = Path(cfg.out_dir)
    tc, data, model = train_configs(cfg)
    demo(
        to_dataclass(DemoConfig, cfg.demo, where="demo."),
        collect_cfg=collect_config(cfg.collect, out=str(out / "data")),
        train=tc,
        data=data,
        model=model,
        env=env_config(cfg.env),
        ecfg=eval_config(cfg.eval),
        out=out,
    )
    return 0
