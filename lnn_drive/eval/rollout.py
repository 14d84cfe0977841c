"""Closed-loop rollouts of a :class:`~lnn_drive.models.Policy` in vectorised environments.

Drives run in a gymnasium vector environment (``AsyncVectorEnv`` by default: one
simulator per process) with autoreset disabled: when a drive ends, only that slot is reset
onto the next road seed and only its row of the policy's recurrent state is zeroed, so the
policy is evaluated with one batched forward per step over all running drives.

The policy is used through its public interface only (``reset``, ``reset_rows``,
``act_batch``, ``preprocess``); the privileged expert's label is read from
``info["expert_action"]`` for reporting and is never fed back into the loop.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np

from lnn_drive.eval.metrics import DriveTrace
from lnn_drive.eval.wrappers import add_frame_noise, check_noise_scale
from lnn_drive.protocols import PolicyProtocol

#: What a rollout needs from a policy (the project's one policy protocol).
BatchPolicy = PolicyProtocol


class RolloutError(ValueError):
    """The policy and the environment do not fit together (raised before any rollout)."""


@dataclass(kw_only=True)
class _Drive:
    """Per-step records of one running drive (filled as it goes)."""

    seed: int
    rng: np.random.Generator | None
    lateral_offset: list[float] = field(default_factory=list)
    heading_error: list[float] = field(default_factory=list)
    command: list[float] = field(default_factory=list)
    expert: list[float] = field(default_factory=list)
    distance: list[float] = field(default_factory=list)
    x: list[float] = field(default_factory=list)
    y: list[float] = field(default_factory=list)
    intervention_steps: list[int] = field(default_factory=list)
    last_expert: float = 0.0

    def finish(self, *, dt: float, preset: str, interventions: int, crashed: bool) -> DriveTrace:
        a = functools.partial(np.asarray, dtype=np.float64)
        return DriveTrace(
            dt=dt,
            lateral_offset=a(self.lateral_offset),
            heading_error=a(self.heading_error),
            command=a(self.command),
            expert=a(self.expert),
            distance=a(self.distance),
            interventions=int(interventions),
            crashed=bool(crashed),
            seed=int(self.seed),
            preset=preset,
            x=a(self.x),
            y=a(self.y),
            intervention_steps=tuple(self.intervention_steps),
        )


def check_compatible(
    policy: PolicyProtocol, observation_space: gym.Space, *, where: str = "env"
) -> None:
    """Raise :class:`RolloutError` unless the environment's frames fit the policy's
    preprocessing (checked before any rollout starts)."""
    shape = getattr(observation_space, "shape", None)
    if shape is None or len(shape) != 3 or shape[2] != 3:
        raise RolloutError(f"{where}: observations of shape {shape} are not RGB frames (H, W, 3)")
    pre = getattr(policy, "preprocess", None)
    if pre is None:
        return
    h, w = int(shape[0]), int(shape[1])
    if pre.in_height is not None and (pre.in_height, pre.in_width) != (h, w):
        raise RolloutError(
            f"{where} renders {h}x{w} frames but the policy was trained on "
            f"{pre.in_height}x{pre.in_width} camera frames (its preprocessing crops and resizes "
            f"those); set env.height={pre.in_height} env.width={pre.in_width}"
        )
    try:
        pre.check_frame(np.zeros((h, w, 3), np.uint8), what=where)
    except ValueError as e:
        raise RolloutError(str(e)) from e


VECTOR_MODES = ("async", "sync", "inprocess")


def _vector_env(env_fns: Sequence[Callable[[], gym.Env]], *, vector: str) -> Any:
    mode = gym.vector.AutoresetMode.DISABLED
    if vector not in VECTOR_MODES:
        raise ValueError(f"eval.vector must be one of {VECTOR_MODES}, got {vector!r}")
    if vector == "inprocess":
        from lnn_drive.eval.batched import InProcessVectorEnv

        return InProcessVectorEnv(env_fns)
    if vector == "async" and len(env_fns) > 1:
        return gym.vector.AsyncVectorEnv(env_fns, shared_memory=True, autoreset_mode=mode)
    return gym.vector.SyncVectorEnv(env_fns, autoreset_mode=mode)


def _row(info: Mapping[str, Any], key: str, i: int, default: float = 0.0) -> float:
    v = info.get(key)
    if v is None:
        return default
    return float(np.asarray(v)[i])


def _noisy_frames(
    obs: np.ndarray, drives: Sequence[_Drive | None], std: float, relative: bool = False
) -> np.ndarray:
    """What the policy sees: the camera frames, with each running drive's frame noise."""
    if std <= 0:
        return obs
    frames = obs.copy()
    for i, d in enumerate(drives):
        if d is not None:
            frames[i] = add_frame_noise(obs[i], std, d.rng, relative=relative)
    return frames


def _actions(
    policy: PolicyProtocol, frames: np.ndarray, drives: Sequence[_Drive | None]
) -> np.ndarray:
    """(n, 1) curvature commands of one batched policy step; idle slots get 0."""
    n = len(drives)
    out = np.asarray(policy.act_batch(frames), dtype=np.float32)  # (n, k)
    if out.ndim != 2 or out.shape[0] != n:
        raise RolloutError(f"policy.act_batch returned shape {out.shape}, expected ({n}, k)")
    actions = out[:, :1].copy()  # (n, 1) curvature
    for i, d in enumerate(drives):
        if d is None:
            actions[i] = 0.0
    return actions


def _record_step(
    drives: Sequence[_Drive | None],
    actions: np.ndarray,
    info: Mapping[str, Any],
    ended: np.ndarray,
    crashed: np.ndarray,
    *,
    finish: Callable[[_Drive, int, bool], None],
) -> np.ndarray:
    """Append one step to every running drive; ``finish`` the ones that ended. Returns the
    (n,) mask of slots whose drive ended."""
    done = np.zeros(len(drives), bool)
    for i, d in enumerate(drives):
        if d is None:
            continue
        d.command.append(float(actions[i, 0]))
        d.expert.append(d.last_expert)
        d.lateral_offset.append(_row(info, "lateral_offset", i))
        d.heading_error.append(_row(info, "heading_error", i))
        d.distance.append(_row(info, "distance", i))
        d.x.append(_row(info, "x", i))
        d.y.append(_row(info, "y", i))
        if _row(info, "intervened", i):
            d.intervention_steps.append(len(d.command) - 1)
        d.last_expert = _row(info, "expert_action", i)
        if ended[i]:
            finish(d, int(_row(info, "interventions", i)), bool(crashed[i]))
            done[i] = True
    return done


def _refill(
    envs: gym.vector.VectorEnv,
    obs: np.ndarray,
    drives: list[_Drive | None],
    done: np.ndarray,
    queue: list[int],
    new_drive: Callable[[int], _Drive],
    observe: Callable[..., None] | None = None,
) -> None:
    """Reset the finished slots onto the next road seeds (in place in ``obs``/``drives``);
    ``observe(info, mask)`` hands the reset slots' info to a policy that reads it."""
    n = len(drives)
    mask = np.zeros(n, bool)
    next_seeds: list[int | None] = [None] * n
    for i in np.flatnonzero(done):
        # A finished slot is reset even when no road is left for it, so that an idle
        # environment is never stepped past its end; its actions are then ignored.
        mask[i] = True
        if queue:
            s = queue.pop(0)
            next_seeds[i] = s
            drives[i] = new_drive(s)
        else:
            next_seeds[i] = drives[i].seed
            drives[i] = None
    if any(d is not None for d in drives):
        obs2, info2 = envs.reset(seed=next_seeds, options={"reset_mask": mask})
        obs2 = np.array(obs2)
        obs[mask] = obs2[mask]
        for i in np.flatnonzero(mask):
            if drives[i] is not None:
                drives[i].last_expert = _row(info2, "expert_action", i)
        if observe is not None:
            observe(info2, mask)


def run_drives(
    policy: BatchPolicy,
    env_fn: Callable[[], gym.Env],
    *,
    seeds: Sequence[int],
    num_envs: int = 2,
    noise_variance: float = 0.0,
    noise_seed: int = 0,
    noise_scale: str = "unit",
    preset: str = "",
    dt: float = 1 / 30,
    vector: str = "async",
    on_frame: Callable[[int, np.ndarray, float, float], None] | None = None,
    progress: bool = False,
) -> list[DriveTrace]:
    """Drive one road per seed with ``policy`` in closed loop and return the traces.

    Args:
        policy: Batched policy (``reset``, ``reset_rows``, ``act_batch``).
        env_fn: Zero-argument, picklable environment constructor.
        seeds: Road seeds, one drive each (a drive ends when the environment terminates or
            truncates).
        num_envs: Environments stepped in parallel.
        noise_variance: Gaussian frame-noise variance on the [0, 1] scale (NCP paper
            protocol); the noise of a drive is seeded from ``(noise_seed, road seed)`` so it
            does not depend on ``num_envs``.
        noise_seed: Noise seed.
        noise_scale: ``unit`` (variance on [0, 1]) or ``snr`` (variance as a multiple of
            each frame's pixel variance); see :mod:`lnn_drive.eval.wrappers`.
        preset: Appearance preset name (recorded in the traces).
        dt: Control period (s).
        vector: ``"async"`` (one process per environment), ``"sync"`` or ``"inprocess"``
            (:class:`~lnn_drive.eval.batched.InProcessVectorEnv`, the fast path).
        on_frame: Called as ``on_frame(step, frame, command, expert)`` for every step of the
            first drive (the frame the policy saw), e.g. to write a video.
        progress: Show a progress bar over drives.

    Returns:
        One :class:`DriveTrace` per seed, in the order of ``seeds``.
    """
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise ValueError("no road seeds to drive")
    if noise_variance < 0:
        raise ValueError(f"noise variance must be >= 0, got {noise_variance}")
    n = max(1, min(int(num_envs), len(seeds)))
    std = float(np.sqrt(noise_variance))
    relative = check_noise_scale(noise_scale, "noise_scale") == "snr"

    def new_drive(seed: int) -> _Drive:
        rng = np.random.default_rng([int(noise_seed), seed]) if std > 0 else None
        return _Drive(seed=seed, rng=rng)

    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(seeds), desc="drives", unit="drive", leave=False)

    results: dict[int, DriveTrace] = {}
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"road seeds must be distinct, got {seeds}")

    def finish(d: _Drive, interventions: int, crashed: bool) -> None:
        results[d.seed] = d.finish(
            dt=dt, preset=preset, interventions=interventions, crashed=crashed
        )
        if bar is not None:
            bar.update(1)

    queue = list(seeds)
    envs = _vector_env([env_fn] * n, vector=vector)
    try:
        first = [queue.pop(0) for _ in range(n)]
        obs, info = envs.reset(seed=first)
        obs = np.array(obs)
        drives: list[_Drive | None] = [new_drive(s) for s in first]
        for i, d in enumerate(drives):
            d.last_expert = _row(info, "expert_action", i)
        policy.reset(batch_size=n)
        # A policy that filters its commands on the privileged state (SafetyFilter) reads
        # it from every info; the frames stay its only other input.
        observe = getattr(policy, "observe", None)
        if observe is not None:
            observe(info)
        step_of_first = 0
        while any(d is not None for d in drives):
            frames = _noisy_frames(obs, drives, std, relative)
            actions = _actions(policy, frames, drives)
            if on_frame is not None and drives[0] is not None and drives[0].seed == seeds[0]:
                on_frame(step_of_first, frames[0], float(actions[0, 0]), drives[0].last_expert)
                step_of_first += 1
            obs, _, terminated, truncated, info = envs.step(actions)
            obs = np.array(obs)
            if observe is not None:
                observe(info)
            ended = np.asarray(terminated) | np.asarray(truncated)
            done = _record_step(drives, actions, info, ended, np.asarray(terminated), finish=finish)
            if done.any():
                _refill(envs, obs, drives, done, queue, new_drive, observe)
                policy.reset_rows(done)
    finally:
        envs.close()
        if bar is not None:
            bar.close()
    return [results[s] for s in seeds]
