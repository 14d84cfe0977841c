"""`demo-carracing`: gymnasium's CarRacing-v3 from pixels in one command.

1. drive the privileged expert (pure pursuit + speed plan from the track) with DART noise
   into a driving log;
2. train the conv head + 19-neuron NCP (2 motor neurons: steering, longitudinal) by
   behaviour cloning;
3. DAgger: rounds on fresh tracks with the expert/learner mixture, labelled by the expert,
   each fine-tuning the previous round's best weights;
4. drive the final policy on unseen tracks: clean, with ``domain_randomize`` (colours never
   seen in training) and under frame noise; mean +- std return, laps, off-track events;
5. a saliency video of the first unseen track, and a Markdown report.

    lnn-drive demo-carracing [train.max_minutes=20] [dagger.rounds=2] [eval.episodes=100]
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from lnn_drive.commands.carracing_expert import carracing_config, write_json_atomic
from lnn_drive.commands.config import plain, to_dataclass, train_configs
from lnn_drive.commands.demo import train_stage

CONFIG = "demo_carracing"


@dataclass(frozen=True, kw_only=True)
class CarRacingDemoConfig:
    """The demo's own options (``demo`` in ``conf/demo_carracing.yaml``).

    Attributes:
        dagger_minutes: Training time of each DAgger round (a fine-tune).
        dagger_steps: Step cap of each DAgger round (the cosine schedule spans it).
        train_procs: Data-parallel training processes, one thread each.
        threads: Torch threads of the demo process (0: torch default).
        target_return: Mean return over the unseen tracks the report calls solved.
        video_steps: Frames of the saliency video (0: no video).
    """

    dagger_minutes: float = 5.0
    dagger_steps: int = 1000
    train_procs: int = 2
    threads: int = 0
    target_return: float = 900.0
    video_steps: int = 500

    def __post_init__(self) -> None:
        if not self.dagger_minutes > 0:
            raise ValueError(f"demo.dagger_minutes must be > 0, got {self.dagger_minutes}")
        if self.dagger_steps < 1:
            raise ValueError(f"demo.dagger_steps must be >= 1, got {self.dagger_steps}")
        if self.train_procs < 1:
            raise ValueError(f"demo.train_procs must be >= 1, got {self.train_procs}")
        if self.video_steps < 0:
            raise ValueError(f"demo.video_steps must be >= 0, got {self.video_steps}")


@dataclass(frozen=True, kw_only=True)
class CarRacingEvalConfig:
    """The evaluation of the demo (``eval``).

    Attributes:
        episodes: Unseen tracks per condition (100 for "solved").
        first_seed: First unseen track seed.
        noise_variances: Frame-noise variances evaluated besides clean.
        domain_randomize: Also evaluate with ``domain_randomize=True``.
        noise_seed: Seed of the frame noise.
    """

    episodes: int = 100
    first_seed: int = 10_000
    noise_variances: tuple[float, ...] = (0.1,)
    domain_randomize: bool = True
    noise_seed: int = 0

    def __post_init__(self) -> None:
        if (
            isinstance(self.episodes, bool)
            or not isinstance(self.episodes, int)
            or self.episodes < 1
        ):
            raise ValueError(f"eval.episodes must be an integer >= 1, got {self.episodes!r}")
        for v in self.noise_variances:
            if not (isinstance(v, int | float) and 0 < v <= 1):
                raise ValueError(f"eval.noise_variances: each must be in (0, 1], got {v!r}")


def _row(name: str, s: dict[str, Any]) -> str:
    return (
        f"| {name} | {s['episodes']} | {s['return_mean']:.1f} +- {s['return_std']:.1f} | "
        f"{s['return_min']:.1f} | {s['return_median']:.1f} | {s.get('laps', 0):.0f} | "
        f"{s.get('off_track_events', 0):.0f} |"
    )


def run(cfg: DictConfig) -> int:
    """Build the typed configs of every stage and run the demo."""
    import torch

    from lnn_drive.envs.adapters.carracing import (
        INFO_SIGNALS,
        CollectConfig,
        carracing_env_fn,
        collect,
    )
    from lnn_drive.eval.episodes import run_episodes, summarise_returns
    from lnn_drive.explain.adapter_video import adapter_video
    from lnn_drive.train.checkpoint import load_policy
    from lnn_drive.train.dagger import DaggerConfig, dagger
    from lnn_drive.train.launch import train_local

    out = Path(str(cfg.out_dir))
    dcfg = to_dataclass(CarRacingDemoConfig, cfg.demo, where="demo.")
    ecfg = to_dataclass(CarRacingEvalConfig, cfg.eval, where="eval.")
    agg = to_dataclass(DaggerConfig, cfg.dagger, where="dagger.")
    env = carracing_config(cfg.env)
    ccfg = to_dataclass(CollectConfig, {**plain(cfg.collect), "out": str(out / "data")})
    tc, data, model = train_configs(cfg)
    if dcfg.threads:
        torch.set_num_threads(dcfg.threads)
    env_fn = carracing_env_fn(env)
    timings: dict[str, float] = {}
    t_all = t0 = time.perf_counter()
    print("\n== 1/5 collect expert drives", flush=True)
    col = collect(ccfg, env)
    print(f"{col['frames']} frames, expert mean return {col['mean_return']:.1f}", flush=True)
    timings["collect"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    data = dataclasses.replace(data, roots=(col["out"],))
    bc = train_stage(tc, data, model, out / "train", dcfg.train_procs)
    timings["train"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    best = str(bc["best_checkpoint"])
    rounds: list[dict[str, Any]] = []
    if agg.rounds:
        print(f"\n== 3/5 DAgger: {agg.rounds} rounds fine-tuning {best}", flush=True)
        ft = dataclasses.replace(tc, max_minutes=dcfg.dagger_minutes, max_steps=dcfg.dagger_steps)

        def fine_tune(tcfg, *, data, model, run_dir):
            return train_local(
                tcfg, data=data, model=model, run_dir=run_dir, nproc=dcfg.train_procs,
                threads_per_proc=1,
            )  # fmt: skip

        res = dagger(
            agg,
            train=ft,
            data=data,
            model=model,
            out_dir=out / "dagger",
            train_fn=fine_tune,
            init_checkpoint=best,
            env_fn=env_fn,
        )
        best = str(res["best_checkpoint"])
        rounds = [
            {"round": r["round"], "beta": r["beta"], "collect": r.get("collect")}
            for r in res["rounds"]
        ]
    timings["dagger"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    print("\n== 4/5 closed loop on unseen tracks", flush=True)
    policy = load_policy(best)
    seeds = list(range(ecfg.first_seed, ecfg.first_seed + ecfg.episodes))
    conditions: list[tuple[str, Any, float]] = [("clean", env_fn, 0.0)]
    if ecfg.domain_randomize:
        conditions.append(("domain_randomize", carracing_env_fn(env, domain_randomize=True), 0.0))
    conditions += [(f"noise={v:g}", env_fn, float(v)) for v in ecfg.noise_variances]
    summaries: dict[str, dict[str, Any]] = {}
    for name, fn, var in conditions:
        eps = run_episodes(
            policy, fn, seeds=seeds, noise_variance=var, noise_seed=ecfg.noise_seed,
            signal_names=list(INFO_SIGNALS),
        )  # fmt: skip
        summaries[name] = summarise_returns(eps)
        print(_row(name, summaries[name]), flush=True)
    timings["evaluate"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    video = None
    if dcfg.video_steps:
        print("\n== 5/5 saliency video and report", flush=True)
        video = adapter_video(
            policy, env_fn, out / "drive.mp4", seed=ecfg.first_seed, max_steps=dcfg.video_steps
        )["path"]
    timings["video"] = time.perf_counter() - t0
    timings["total"] = time.perf_counter() - t_all
    clean = summaries["clean"]
    solved = clean["return_mean"] >= dcfg.target_return
    table = "\n".join(
        [
            "| condition | tracks | return mean +- std | min | median | laps | off-track events |",
            "|---|---:|---:|---:|---:|---:|---:|",
            *(_row(n, s) for n, s in summaries.items()),
        ]
    )
    stages = "\n".join(
        ["| stage | seconds |", "|---|---:|"] + [f"| {k} | {v:.1f} |" for k, v in timings.items()]
    )
    artefacts = {
        "data": col["out"],
        "checkpoint": best,
        **({"video": video} if video else {}),
    }
    report = out / "report.md"
    sections = [
        f"# lnn_drive CarRacing-v3 demo: {model.name}",
        f"Clean, {clean['episodes']} unseen tracks from seed {ecfg.first_seed}: mean return "
        f"**{clean['return_mean']:.1f} +- {clean['return_std']:.1f}** (solved at "
        f"{dcfg.target_return:g}: {'met' if solved else 'NOT met'}). Expert logs: "
        f"{col['episodes']} tracks, {col['frames']} frames, expert mean return "
        f"{col['mean_return']:.1f}; behaviour cloning val loss {bc.get('val_loss')}; "
        f"DAgger rounds {len(rounds) - 1 if rounds else 0}.",
        table,
        stages,
        "Artefacts:\n" + "\n".join(f"- {k}: `{v}`" for k, v in artefacts.items()),
    ]
    partial = out / ".report.md.partial"
    partial.write_text("\n\n".join(sections) + "\n")
    partial.replace(report)
    write_json_atomic(
        out / "demo.json",
        json.loads(
            json.dumps(
                {
                    "summaries": summaries,
                    "solved": solved,
                    "timings_s": timings,
                    "dagger_rounds": rounds,
                    "artefacts": {**artefacts, "report": str(report)},
                },
                default=str,
            )
        ),
    )
    print("\n" + table)
    print(f"\nreport: {report}; total {timings['total'] / 60:.1f} min")
    return 0
