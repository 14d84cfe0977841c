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

from lnn_drive.envs.record import Episode, Step, VectorRows, drive_rows
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


class _Evaluator:
    """:class:`~lnn_drive.envs.record.RowDriver` of :func:`run_drives`: the policy acts on
    all rows with one batched step, each drive's steps accumulate into a :class:`_Drive`
    (the metrics sink), finished drives become :class:`DriveTrace` s."""

    def __init__(
        self,
        policy: PolicyProtocol,
        seeds: Sequence[int],
        n: int,
        *,
        std: float,
        relative: bool,
        noise_seed: int,
        finish: Callable[[_Drive, int, bool], None],
        on_frame: Callable[[int, np.ndarray, float, float], None] | None,
    ) -> None:
        self.policy, self.std, self.noise_seed = policy, std, int(noise_seed)
        self.relative = relative
        self.queue = [int(s) for s in seeds]
        self.first_seed = self.queue[0]
        self.drives: list[_Drive | None] = [None] * n
        self.finish, self.on_frame = finish, on_frame
        # A policy that filters its commands on the privileged state (SafetyFilter) reads
        # it from every info; the frames stay its only other input.
        self.observe = getattr(policy, "observe", None)
        self.started = False
        self.step_of_first = 0

    def next_episode(self) -> Episode | None:
        return Episode(seed=self.queue.pop(0)) if self.queue else None

    def begin(self, rows: np.ndarray, episodes: Sequence[Episode | None], info: Any) -> None:
        for i in np.flatnonzero(rows):
            ep = episodes[i]
            d = None
            if ep is not None:
                rng = np.random.default_rng([self.noise_seed, ep.seed]) if self.std > 0 else None
                d = _Drive(seed=ep.seed, rng=rng)
                d.last_expert = _row(info, "expert_action", i)
            self.drives[i] = d
        if not self.started:
            self.started = True
            self.policy.reset(batch_size=len(self.drives))
            if self.observe is not None:
                self.observe(info)
            return
        if self.observe is not None:
            self.observe(info, rows)

    def act(self, obs: np.ndarray, live: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        frames = _noisy_frames(obs, self.drives, self.std, self.relative)
        actions = _actions(self.policy, frames, self.drives)
        first = self.drives[0]
        if self.on_frame is not None and first is not None and first.seed == self.first_seed:
            self.on_frame(self.step_of_first, frames[0], float(actions[0, 0]), first.last_expert)
            self.step_of_first += 1
        return actions, np.zeros(len(self.drives), bool)

    def record(self, actions: np.ndarray, step: Step, live: np.ndarray) -> np.ndarray:
        info, terminated = step.info, step.terminated
        if self.observe is not None:
            self.observe(info)
        ended = np.asarray(terminated) | np.asarray(step.truncated)
        return _record_step(
            self.drives, actions, info, ended, np.asarray(terminated), finish=self.finish
        )

    def end(self, rows: np.ndarray) -> None:
        self.policy.reset_rows(rows)  # each finished drive zeroes exactly its row


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

    envs = _vector_env([env_fn] * n, vector=vector)
    evaluator = _Evaluator(
        policy,
        seeds,
        n,
        std=std,
        relative=relative,
        noise_seed=noise_seed,
        finish=finish,
        on_frame=on_frame,
    )
    try:
        drive_rows(VectorRows(envs), evaluator)
    finally:
        envs.close()
        if bar is not None:
            bar.close()
    return [results[s] for s in seeds]
