"""`demo`: the whole pipeline on built-in defaults, in one command.

1. collect expert driving logs in the simulator (with DART noise for recovery data);
2. train the CNN + 19-neuron NCP by behaviour cloning;
3. evaluate it in closed loop on held-out roads (PilotNet autonomy);
4. render a saliency video (VisualBackProp overlay, steering, neuron activities);
5. write a Markdown report, printing where each artefact is.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from lnn_drive.cli import compose_config
from lnn_drive.eval.evaluate import EvalConfig, evaluate_policy, load_policy
from lnn_drive.eval.html_report import write_html_report
from lnn_drive.eval.report import write_json


def _stage(name: str) -> None:
    print(f"\n== {name}", flush=True)


def _saliency_grid(
    policy: Any, env_cfg: dict[str, Any], path: Path, *, seed: int, n: int = 5, every: int = 30
) -> Path:
    """VisualBackProp of ``n`` camera frames along an expert drive on road ``seed``."""
    import numpy as np

    from lnn_drive.envs import make_env
    from lnn_drive.explain.plots import saliency_grid
    from lnn_drive.explain.video import policy_saliency

    env = make_env(env_cfg, crash_mode="intervene")
    frames, steps = [], []
    try:
        obs, info = env.reset(seed=seed)
        for t in range(n * every):
            if t % every == 0:
                frames.append(obs)
                steps.append(t)
            obs, _, term, trunc, info = env.step(np.array([info["expert_action"]], np.float32))
            if term or trunc:
                break
    finally:
        env.close()
    stack = np.stack(frames)  # (n, H, W, 3)
    return saliency_grid(
        stack,
        {policy.model_name: policy_saliency(policy, stack)},
        path,
        col_titles=[f"step {t}" for t in steps],
    )


def demo(cfg: DictConfig) -> dict[str, Any]:
    """Entry point of ``scripts/demo.py`` (``conf/demo.yaml``)."""
    import torch

    from lnn_drive.envs import make_env
    from lnn_drive.envs.collect import collect
    from lnn_drive.train.launch import train_local

    out = Path(cfg.out_dir)
    dcfg = cfg.demo
    ecfg = EvalConfig.from_cfg(cfg.eval)
    env_cfg = OmegaConf.to_container(cfg.env, resolve=True)
    timings: dict[str, float] = {}
    t_all = time.perf_counter()
    if dcfg.threads:
        torch.set_num_threads(int(dcfg.threads))

    _stage("1/5 collect expert logs")
    t0 = time.perf_counter()
    data_root = out / "data"
    ccfg = compose_config(
        "collect",
        [
            f"out={data_root}",
            f"paths.output_dir={out}/collect",
            f"episodes={dcfg.episodes}",
            f"steps={dcfg.steps}",
            f"seed={cfg.seed}",
            f"dart.std={dcfg.dart_std}",
            *[f"env.{k}={v}" for k, v in env_cfg.items() if k != "id" and v is not None],
            *dcfg.collect_overrides,
        ],
    )
    collect(ccfg)
    timings["collect"] = time.perf_counter() - t0

    _stage(f"2/5 train {dcfg.model}")
    t0 = time.perf_counter()
    tcfg = compose_config(
        "train",
        [
            f"model={dcfg.model}",
            f"seed={cfg.seed}",
            f"data.roots=[{data_root}]",
            f"paths.output_dir={out}/train",
            f"paths.cache_dir={cfg.paths.cache_dir}",
            f"train.max_minutes={dcfg.train_minutes}",
            *dcfg.train_overrides,
        ],
    )
    # data-parallel local processes, one thread each: on small CPUs this nearly doubles
    # training throughput over one process with several threads (lnn_drive/train/launch.py)
    res = train_local(tcfg, nproc=int(dcfg.train_procs), threads_per_proc=1)
    timings["train"] = time.perf_counter() - t0

    _stage("3/5 closed-loop evaluation on held-out roads")
    t0 = time.perf_counter()
    policy = load_policy(res["best_checkpoint"])
    ev = evaluate_policy(policy, env_cfg, ecfg, out_dir=out / "eval", label=dcfg.model)
    timings["evaluate"] = time.perf_counter() - t0

    _stage("4/5 saliency video")
    t0 = time.perf_counter()
    video = None
    try:
        from lnn_drive.explain.video import saliency_video
    except ImportError:  # pragma: no cover - the explain package is part of the project
        saliency_video = None
    if saliency_video is not None and dcfg.saliency_steps > 0:
        env = make_env(env_cfg, crash_mode="intervene")
        try:
            video = saliency_video(
                policy,
                env,
                steps=int(dcfg.saliency_steps),
                seed=int(ecfg.seed),
                path=out / "saliency.mp4",
            )
        finally:
            env.close()
    timings["saliency"] = time.perf_counter() - t0

    _stage("5/5 report")
    timings["total"] = time.perf_counter() - t_all
    clean = ev["metrics"]["clean"]
    passed = clean["autonomy"] >= float(dcfg.target_autonomy)
    artefacts = {
        "data": str(data_root),
        "checkpoint": str(res["best_checkpoint"]),
        "train_run": str(res.get("run_dir", out / "train")),
        **{f"eval_{k}": v for k, v in ev["files"].items()},
    }
    if video is not None:
        artefacts["saliency_video"] = str(video)
    lines = [
        f"# lnn_drive demo: {dcfg.model}",
        "",
        f"Autonomy on {clean['distance_km']:.2f} km of held-out roads: "
        f"**{100 * clean['autonomy']:.2f}%** (target {100 * dcfg.target_autonomy:.0f}%: "
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
    artefacts["report"] = str(report)
    grid = _saliency_grid(policy, env_cfg, out / "saliency_grid.png", seed=int(ecfg.seed))
    html = write_html_report(
        report,
        extra_media=[p for p in (grid, video) if p is not None],
        learning_curves={dcfg.model: Path(res.get("run_dir", out / "train")) / "metrics.csv"},
    )
    artefacts["report_html"] = str(html)
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
