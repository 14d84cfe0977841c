"""`evaluate`: drive a trained policy, loaded from its checkpoint alone, on held-out roads.

Conditions: ``clean`` (the training appearance preset), ``noise=<var>`` (Gaussian frame
noise of that variance on the [0, 1] scale, the NCP paper's protocol) and ``preset=<name>``
(an out-of-distribution appearance). Each condition drives the same road seeds, which start
at ``seed`` (default 10,000: collection uses small seeds, so evaluation roads are unseen).

Outputs, under ``out_dir``: ``metrics.json``, ``metrics.md`` (Markdown table),
``birdseye.png`` (driven paths coloured by lateral offset, clean condition) and
``drive.mp4`` (camera view of the first clean drive with commanded and expert steering).
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from lnn_drive.envs.config import EnvConfig
from lnn_drive.eval.batched import FastDrives
from lnn_drive.eval.metrics import DriveMetrics, DriveTrace, compute_metrics
from lnn_drive.eval.report import (
    VideoSink,
    metrics_table,
    plot_birdseye,
    steering_overlay,
    write_json,
)
from lnn_drive.eval.rollout import RolloutError, check_compatible, run_drives
from lnn_drive.eval.wrappers import check_noise_scale
from lnn_drive.protocols import PolicyProtocol

if TYPE_CHECKING:
    import gymnasium as gym

    from lnn_drive.models.policy import Policy

#: Road of the int8 calibration frames (a training-collection seed, never evaluated on).
CALIBRATION_ROAD = 0

#: Closed-loop steps an evaluation needs per worker process it starts: starting one
#: (Python, torch, the simulator; ~3 CPU-seconds on the 2-core machine) costs about as
#: much as driving 3,000 steps, so a short evaluation stays in this process.
STEPS_PER_WORKER = 10_000


@dataclass(frozen=True, kw_only=True)
class EvalConfig:
    """Options of closed-loop evaluation (``conf/eval/default.yaml``).

    Attributes:
        distance_km: Distance to drive per condition; rounded up to whole drives.
        drive_steps: Control steps per drive (one road each).
        seed: First road seed; drives use ``seed, seed + 1, ...``.
        num_envs: Environments stepped in parallel (per worker with ``actor=fast``; one
            process each when ``vector=async``).
        vector: ``inprocess`` (the fast path), ``async`` or ``sync``.
        actor: ``fast`` (a batched, compiled :class:`~lnn_drive.models.inference.FastActor`
            checked against the eager policy to 1e-2; ``lnn_drive/eval/batched.py``) or
            ``eager`` (the torch ``Policy`` itself).
        precision: FastActor precision (``int8``, ``fp32`` or ``bf16``).
        workers: Processes the road seeds are split over with ``actor=fast`` (this one
            and ``workers - 1`` workers started once per evaluation, one torch thread
            each; at most one per :data:`STEPS_PER_WORKER` steps of the evaluation); the
            first drive, the one in the video, is driven in this process.
        crash_mode: ``intervene`` (PilotNet: count, recentre, continue) or ``terminate``.
        noise_variances: Frame-noise variances to test besides the clean condition.
        presets: Out-of-distribution appearance presets to test.
        noise_seed: Seed of the frame noise.
        noise_scales: How a noise variance is read, one condition set per entry: ``unit``
            (the paper's convention: variance on frames scaled to [0, 1]; conditions
            ``noise=<var>``) and/or ``snr`` (signal-to-noise matched: variance x each
            frame's pixel variance; conditions ``snr=<var>``). See
            :mod:`lnn_drive.eval.wrappers`.
        video: Write ``drive.mp4`` of the first clean drive.
        video_steps: Frames in the video (0: the whole drive).
        threads: Torch threads for the policy (0: leave as is).
        progress: Show progress bars.
    """

    distance_km: float = 5.0
    drive_steps: int = 1000
    seed: int = 10_000
    num_envs: int = 8
    vector: str = "inprocess"
    actor: str = "fast"
    precision: str = "int8"
    workers: int = 2
    crash_mode: str = "intervene"
    noise_variances: list[float] = field(default_factory=list)
    presets: list[str] = field(default_factory=list)
    noise_seed: int = 0
    noise_scales: list[str] = field(default_factory=lambda: ["unit"])
    video: bool = True
    video_steps: int = 600
    threads: int = 1
    progress: bool = True

    def __post_init__(self) -> None:
        if not self.distance_km > 0:
            raise ValueError(f"eval.distance_km must be positive, got {self.distance_km}")
        if self.drive_steps < 2:
            raise ValueError(f"eval.drive_steps must be >= 2, got {self.drive_steps}")
        if self.num_envs < 1:
            raise ValueError(f"eval.num_envs must be >= 1, got {self.num_envs}")
        if self.crash_mode not in ("intervene", "terminate"):
            raise ValueError(
                f"eval.crash_mode must be 'intervene' or 'terminate', got {self.crash_mode!r}"
            )
        if self.vector not in ("async", "sync", "inprocess"):
            raise ValueError(
                f"eval.vector must be 'inprocess', 'async' or 'sync', got {self.vector!r}"
            )
        if self.actor not in ("fast", "eager"):
            raise ValueError(f"eval.actor must be 'fast' or 'eager', got {self.actor!r}")
        if self.precision not in ("int8", "fp32", "bf16"):
            raise ValueError(
                f"eval.precision must be 'int8', 'fp32' or 'bf16', got {self.precision!r}"
            )
        if self.workers < 1:
            raise ValueError(f"eval.workers must be >= 1, got {self.workers}")
        for v in self.noise_variances:
            if not v > 0:
                raise ValueError(f"eval.noise_variances must be positive, got {v}")
        if not self.noise_scales:
            raise ValueError("eval.noise_scales must name at least one of unit, snr")
        for sc in self.noise_scales:
            check_noise_scale(sc, "eval.noise_scales")
        if len(set(self.noise_scales)) != len(self.noise_scales):
            raise ValueError(f"eval.noise_scales has duplicates: {self.noise_scales}")

    @classmethod
    def from_mapping(cls, cfg: Mapping[str, Any]) -> EvalConfig:
        """From plain data (the ``eval`` group); unknown keys raise ``ValueError``."""
        d = dict(cfg)
        unknown = sorted(set(d) - {f for f in cls.__dataclass_fields__})
        if unknown:
            raise ValueError(f"unknown eval option(s): {', '.join(unknown)}")
        d["noise_variances"] = [float(v) for v in d.get("noise_variances") or []]
        d["presets"] = [str(p) for p in d.get("presets") or []]
        if "noise_scales" in d:
            d["noise_scales"] = [str(x) for x in d["noise_scales"] or []]
        return cls(**d)


@dataclass(frozen=True)
class Condition:
    """One evaluation condition: a preset and a frame-noise variance."""

    name: str
    preset: str
    noise_variance: float = 0.0
    noise_scale: str = "unit"


def conditions(base_preset: str, ecfg: EvalConfig) -> list[Condition]:
    """Clean, then each noise variance, then each out-of-distribution preset."""
    out = [Condition("clean", base_preset)]
    for scale in ecfg.noise_scales:
        prefix = "noise" if scale == "unit" else scale
        out += [Condition(f"{prefix}={v:g}", base_preset, v, scale) for v in ecfg.noise_variances]
    out += [Condition(f"preset={p}", p) for p in ecfg.presets if p != base_preset]
    return out


def load_policy(path: str | Path) -> Policy:
    """Load a :class:`~lnn_drive.models.Policy` from a checkpoint, with a clear error."""
    from lnn_drive.train.checkpoint import load_policy as _load

    return _load(path)


def _num_drives(ecfg: EvalConfig, speed: float, dt: float) -> int:
    per_drive_m = ecfg.drive_steps * speed * dt
    return max(1, math.ceil(ecfg.distance_km * 1000.0 / per_drive_m))


def prepare(
    policy: PolicyProtocol, env_cfg: EnvConfig, ecfg: EvalConfig, cond: Condition
) -> tuple[Callable[[], gym.Env], float, float]:
    """Build the environment constructor for a condition and check it against the policy
    before anything runs (bad preset, frame size mismatch). Returns ``(env_fn, dt, speed)``."""
    from lnn_drive.envs import env_fn, make_env

    overrides = {
        "preset": cond.preset,
        "crash_mode": ecfg.crash_mode,
        "max_episode_steps": ecfg.drive_steps,
    }
    probe = make_env(env_cfg, **overrides)
    try:
        check_compatible(policy, probe.observation_space, where=f"environment ({cond.name})")
        u = probe.unwrapped
        dt = float(getattr(u, "dt", None) or 1.0 / probe.metadata.get("render_fps", 30))
        speed = float(getattr(getattr(u, "config", None), "speed", env_cfg.speed))
    finally:
        probe.close()
    return env_fn(env_cfg, **overrides), dt, speed


def _fast_session(
    policy: Policy,
    ecfg: EvalConfig,
    conds: list[Condition],
    prepared: list[tuple[Callable[[], gym.Env], float, float]],
) -> FastDrives:
    """One :class:`~lnn_drive.eval.batched.FastDrives` for every condition: the actor is
    calibrated on the first (clean) condition's environment and checked on it, on each
    other appearance preset's and with each noise condition's frame noise."""
    import numpy as np

    base = conds[0].preset
    presets: dict[str, Callable[[], gym.Env]] = {}
    for c, (fn, _, _) in zip(conds, prepared, strict=True):
        if c.preset != base:
            presets.setdefault(c.preset, fn)
    noise = [
        (float(np.sqrt(c.noise_variance)), c.noise_scale == "snr")
        for c in conds
        if c.noise_variance > 0
    ]
    steps = sum(_num_drives(ecfg, speed, dt) * ecfg.drive_steps for _, dt, speed in prepared)
    return FastDrives(
        policy,
        prepared[0][0],
        workers=max(1, min(ecfg.workers, steps // STEPS_PER_WORKER)),
        num_envs=ecfg.num_envs,
        precision=ecfg.precision,
        # calibrate on a road outside every evaluation range
        calibration_seed=CALIBRATION_ROAD,
        check_fns=list(presets.values()),
        check_noise=noise,
        threads=ecfg.threads or 1,
    )


def _run_condition(
    policy: PolicyProtocol,
    session: FastDrives | None,
    ecfg: EvalConfig,
    cond: Condition,
    fn: Callable[[], gym.Env],
    *,
    dt: float,
    speed: float,
    out: Path | None,
) -> tuple[list[DriveTrace], float, str | None]:
    """Drive one condition's roads; returns ``(traces, wall seconds, video path or None)``."""
    n = _num_drives(ecfg, speed, dt)
    seeds = list(range(ecfg.seed, ecfg.seed + n))
    sink = None
    on_frame = None
    if out is not None and ecfg.video and cond.name == "clean":
        sink = VideoSink(out / "drive.mp4", fps=round(1 / dt))
        limit = ecfg.video_steps or ecfg.drive_steps

        def on_frame(step, frame, cmd, expert, _sink=sink, _limit=limit):
            if step < _limit:
                _sink.write(steering_overlay(frame, cmd, expert))

    t0 = time.perf_counter()
    kw = dict(
        seeds=seeds,
        num_envs=ecfg.num_envs,
        noise_variance=cond.noise_variance,
        noise_seed=ecfg.noise_seed,
        noise_scale=cond.noise_scale,
        preset=cond.preset,
        dt=dt,
        on_frame=on_frame,
        progress=ecfg.progress,
    )
    try:
        if session is not None:
            kw.pop("num_envs")
            traces = session.run(fn, **kw)
        else:
            vector = "inprocess" if ecfg.actor == "fast" else ecfg.vector
            traces = run_drives(policy, fn, vector=vector, **kw)
    except BaseException:
        if sink is not None:
            sink.abort()
        raise
    wall = time.perf_counter() - t0
    return traces, wall, (str(sink.close()) if sink is not None else None)


def evaluate_policy(
    policy: PolicyProtocol,
    env_cfg: EnvConfig,
    ecfg: EvalConfig,
    *,
    out_dir: str | Path | None = None,
    label: str = "",
) -> dict[str, Any]:
    """Run every condition of ``ecfg`` and write the reports under ``out_dir``.

    Returns:
        ``{"metrics": {condition: metrics dict}, "files": {...}, "table": markdown}``.
    """
    if ecfg.threads:
        torch.set_num_threads(ecfg.threads)
    base = env_cfg.preset
    conds = conditions(base, ecfg)
    # Check every condition before any rollout starts.
    prepared = [prepare(policy, env_cfg, ecfg, c) for c in conds]
    out = Path(out_dir) if out_dir is not None else None
    results: dict[str, DriveMetrics] = {}
    clean_traces: list[DriveTrace] = []
    files: dict[str, str] = {}
    timings: dict[str, float] = {}
    with contextlib.ExitStack() as stack:
        # the fast path compiles a torch Policy; anything else that acts (an ONNX policy, a
        # filtered policy, the expert) is driven as it is
        session = None
        if ecfg.actor == "fast" and hasattr(policy, "encoder"):
            t0 = time.perf_counter()
            session = stack.enter_context(_fast_session(policy, ecfg, conds, prepared))
            timings["setup"] = time.perf_counter() - t0
        for cond, (fn, dt, speed) in zip(conds, prepared, strict=True):
            traces, timings[cond.name], video = _run_condition(
                policy, session, ecfg, cond, fn, dt=dt, speed=speed, out=out
            )
            if video is not None:
                files["video"] = video
            results[cond.name] = compute_metrics(traces)
            if cond.name == "clean":
                clean_traces = traces
    table = metrics_table(results)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        files["birdseye"] = str(plot_birdseye(clean_traces[:8], out / "birdseye.png"))
        payload = {
            "label": label,
            "config": asdict(ecfg),
            "env": asdict(env_cfg),
            "metrics": {k: v.to_dict(prefix="") for k, v in results.items()},
            "wall_s": timings,
            "roads": [t.seed for t in clean_traces],
        }
        files["json"] = str(write_json(payload, out / "metrics.json"))
        md = out / "metrics.md"
        tmp = md.with_name(".metrics.md.tmp")
        title = f"# Closed-loop evaluation{': ' + label if label else ''}\n\n"
        tmp.write_text(title + table + "\n")
        tmp.replace(md)
        files["table"] = str(md)
    return {
        "metrics": {k: v.to_dict(prefix="") for k, v in results.items()},
        "files": files,
        "table": table,
        "wall_s": timings,
    }


__all__ = [
    "Condition",
    "EvalConfig",
    "RolloutError",
    "conditions",
    "evaluate_policy",
    "load_policy",
    "prepare",
]
