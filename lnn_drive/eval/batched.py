"""The fast closed loop: N environments stepped in-process, one batched forward per step.

Profiling today's path (``AsyncVectorEnv`` of 2 simulator processes + the eager
``Policy``; see ``docs/benchmarks.md``) shows the policy's forward is the cost: the
simulator renders a 78x200 frame in ~0.08 ms, while the eager conv head takes ~1.1 ms a
frame on one thread and does not get cheaper per frame with batching. So the fast path

* keeps the simulators in the policy's process (:class:`InProcessVectorEnv`: no pickling,
  no pipes, no shared-memory copies; a simulator step is cheaper than the IPC round trip),
* runs the policy as a compiled :class:`~lnn_drive.models.inference.FastActor` (int8
  convolutions by default, calibrated on the environment's own frames, checked against
  the eager policy before use: :func:`fast_actor`),
* and, to use more than one core without intra-op threading (which scales badly for
  these small convolutions on a shared 2-core machine), splits the road seeds over
  ``workers`` processes, each with its own environments and actor
  (:func:`run_drives_parallel`); traces do not depend on the split.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import gymnasium as gym
import numpy as np

from lnn_drive.eval.metrics import DriveTrace

#: Largest |fast actor - eager policy| action difference accepted (physical units).
ACTION_TOLERANCE = 1e-2


class InProcessVectorEnv:
    """A minimal in-process vector environment with autoreset disabled.

    It has the part of the ``gymnasium.vector.VectorEnv`` interface that
    :func:`lnn_drive.eval.rollout.run_drives` uses: ``reset(seed=[...], options=
    {"reset_mask": mask})`` resets only the masked slots, ``step(actions)`` steps every
    slot, observations are stacked (N, H, W, 3) and ``info`` maps each key to an (N,) array.
    It exists because ``SyncVectorEnv``'s per-step bookkeeping (info merging with
    ``_key`` masks, observation concatenation into a fresh batch) costs more than a step
    of this simulator.

    Args:
        env_fns: One zero-argument constructor per slot.
    """

    def __init__(self, env_fns: Sequence[Callable[[], gym.Env]]) -> None:
        if not env_fns:
            raise ValueError("InProcessVectorEnv needs at least one environment")
        self.envs = [fn() for fn in env_fns]
        self.num_envs = len(self.envs)
        space = self.envs[0].observation_space
        self.single_observation_space = space
        self._obs = np.zeros((self.num_envs, *space.shape), space.dtype)  # (N, H, W, 3)
        self._infos: list[dict[str, Any]] = [{} for _ in self.envs]

    def _stack_info(self) -> dict[str, np.ndarray]:
        keys = self._infos[0].keys()
        return {k: np.array([inf.get(k, 0) for inf in self._infos]) for k in keys}

    def reset(
        self, *, seed: Sequence[int | None] | None = None, options: dict | None = None
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        seeds = list(seed) if seed is not None else [None] * self.num_envs
        mask = (options or {}).get("reset_mask")
        mask = np.ones(self.num_envs, bool) if mask is None else np.asarray(mask, bool)
        for i, env in enumerate(self.envs):
            if mask[i]:
                obs, info = env.reset(seed=seeds[i])
                self._obs[i] = obs
                self._infos[i] = info
        return self._obs.copy(), self._stack_info()

    def step(self, actions: np.ndarray):
        rewards = np.zeros(self.num_envs)
        terminated = np.zeros(self.num_envs, bool)
        truncated = np.zeros(self.num_envs, bool)
        for i, env in enumerate(self.envs):
            obs, rewards[i], terminated[i], truncated[i], self._infos[i] = env.step(actions[i])
            self._obs[i] = obs
        return self._obs.copy(), rewards, terminated, truncated, self._stack_info()

    def close(self) -> None:
        for env in self.envs:
            env.close()


def calibration_frames(env_fn: Callable[[], gym.Env], policy: Any, *, seed: int, n: int = 64):
    """``n`` uint8 frames (n, 3, h, w) in model geometry from one drive of the privileged
    expert on road ``seed`` (for int8 calibration and the accuracy check)."""
    import itertools

    from lnn_drive.envs.record import EndRecording, Episode, FunctionRule, record_episodes

    frames: list[np.ndarray] = []

    def expert(obs: np.ndarray, info: Any) -> np.ndarray:
        if len(frames) == n:
            raise EndRecording
        frames.append(policy.preprocess.geometry(obs))
        return np.array([info.get("expert_action", 0.0)], np.float32)

    # road ``seed``, then (each time a drive ends) road ``seed + 1`` again
    roads = itertools.chain([int(seed)], itertools.repeat(int(seed) + 1))
    env = env_fn()
    try:
        record_episodes(env, None, FunctionRule(expert), episodes=(Episode(seed=s) for s in roads))
    finally:
        env.close()
    return np.stack(frames)


def action_error(actor: Any, policy: Any, frames_chw: np.ndarray, *, batch: int = 8) -> float:
    """Largest |actor - eager policy| action over ``frames_chw`` (N, 3, h, w) fed as
    ``batch`` parallel episodes (each row sees the sequence shifted by its index), both
    carrying their recurrent state from a reset."""
    import torch

    n = len(frames_chw)
    seq = np.stack([np.roll(frames_chw, r, axis=0) for r in range(batch)], axis=1)  # (N, B, ...)
    actor.reset(batch)
    ours = np.stack([actor.step_batch(np.ascontiguousarray(seq[t])) for t in range(n)], 1)
    with torch.inference_mode():
        ref, _ = policy.eval()(torch.from_numpy(seq.transpose(1, 0, 2, 3, 4).copy()))
    actor.reset(batch)
    return float(np.abs(ours - ref.numpy()).max())  # (B, N, k)


def fast_actor(
    policy: Any,
    env_fn: Callable[[], gym.Env],
    *,
    precision: str = "int8",
    calibration_seed: int = 0,
    tolerance: float = ACTION_TOLERANCE,
) -> Any:
    """A :class:`~lnn_drive.models.inference.FastActor` of ``policy`` checked against it.

    int8 activations are calibrated on frames of the evaluation environment (road
    ``calibration_seed``, driven by the expert). The actor is accepted only if its actions
    stay within ``tolerance`` of the eager policy's on those frames; otherwise the fp32
    actor is used (its error is ~1e-7).

    Returns:
        The actor, with ``actor.max_error`` (the measured difference) set.
    """
    from lnn_drive.models.inference import FastActor

    frames = calibration_frames(env_fn, policy, seed=calibration_seed, n=96)
    actor = FastActor(policy, precision=precision, calibration=frames[:64])
    err = action_error(actor, policy, frames)
    if err > tolerance and precision != "fp32":
        actor = FastActor(policy, precision="fp32")
        err = action_error(actor, policy, frames)
    actor.max_error = err
    return actor


class ShadowPolicy:
    """Acts with ``actor`` and runs ``reference`` on the same frames in lockstep, keeping
    the largest action difference seen (``max_error``): the closed-loop accuracy check."""

    def __init__(self, actor: Any, reference: Any) -> None:
        self.actor = actor
        self.reference = reference
        self.preprocess = actor.preprocess
        self.max_error = 0.0
        self.steps = 0

    def reset(self, batch_size: int = 1) -> None:
        self.actor.reset(batch_size)
        self.reference.reset(batch_size)

    def reset_rows(self, mask: np.ndarray) -> None:
        self.actor.reset_rows(mask)
        self.reference.reset_rows(mask)

    def act_batch(self, frames: np.ndarray) -> np.ndarray:
        a = self.actor.act_batch(frames)
        b = self.reference.act_batch(frames)
        self.max_error = max(self.max_error, float(np.abs(a - b).max()))
        self.steps += len(frames)
        return a


def _shard_worker(args: tuple) -> tuple[list[DriveTrace], float]:
    import time

    import torch

    from lnn_drive.eval.rollout import run_drives

    policy, env_fn, seeds, kw, precision, threads, cal_seed = args
    torch.set_num_threads(threads)
    actor = fast_actor(policy, env_fn, precision=precision, calibration_seed=cal_seed)
    t0 = time.perf_counter()
    traces = run_drives(actor, env_fn, seeds=seeds, vector="inprocess", **kw)
    return traces, time.perf_counter() - t0


def run_drives_parallel(
    policy: Any,
    env_fn: Callable[[], gym.Env],
    *,
    seeds: Sequence[int],
    workers: int = 2,
    num_envs: int = 8,
    precision: str = "int8",
    calibration_seed: int = 0,
    timings: dict[str, float] | None = None,
    **kw: Any,
) -> list[DriveTrace]:
    """:func:`~lnn_drive.eval.rollout.run_drives` with the fast path, the road seeds split
    over ``workers`` processes (one torch thread each, ``num_envs`` in-process
    environments each, a batched :func:`fast_actor` each).

    ``kw`` are the remaining ``run_drives`` arguments (noise, preset, dt, ...; ``on_frame``
    only with ``workers=1``). Returns the traces in the order of ``seeds``. If ``timings``
    is a dict, ``timings["loop_s"]`` is set to the wall time of the slowest worker's drive
    loop (without process start, compilation and calibration).
    """
    from lnn_drive.eval.rollout import run_drives

    seeds = [int(s) for s in seeds]
    workers = max(1, min(int(workers), len(seeds)))
    if workers == 1:
        actor = fast_actor(policy, env_fn, precision=precision, calibration_seed=calibration_seed)
        t0 = time.perf_counter()
        out = run_drives(actor, env_fn, seeds=seeds, num_envs=num_envs, vector="inprocess", **kw)
        if timings is not None:
            timings["loop_s"] = time.perf_counter() - t0
        return out
    if kw.get("on_frame") is not None:
        raise ValueError("on_frame needs workers=1 (frames are seen in the worker processes)")
    kw = {k: v for k, v in kw.items() if k not in ("on_frame", "progress")}
    # contiguous chunks: worker w drives seeds[w::workers] would interleave; chunks keep a
    # worker's roads together and the result order is restored below
    chunks = [list(c) for c in np.array_split(np.asarray(seeds), workers) if len(c)]
    jobs = [
        (
            policy,
            env_fn,
            [int(s) for s in c],
            {**kw, "num_envs": num_envs},
            precision,
            1,
            calibration_seed,
        )
        for c in chunks
    ]
    ctx = _mp_context()
    with ProcessPoolExecutor(max_workers=len(jobs), mp_context=ctx) as pool:
        parts = list(pool.map(_shard_worker, jobs))
    by_seed = {t.seed: t for part, _ in parts for t in part}
    if timings is not None:
        timings["loop_s"] = max(w for _, w in parts)
    return [by_seed[s] for s in seeds]


def _mp_context():
    import multiprocessing as mp

    # fork would copy torch's thread pool state; spawn/forkserver start clean
    method = "forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn"
    return mp.get_context(os.environ.get("LNN_DRIVE_MP_START", method))


__all__ = [
    "ACTION_TOLERANCE",
    "InProcessVectorEnv",
    "ShadowPolicy",
    "action_error",
    "calibration_frames",
    "fast_actor",
    "run_drives_parallel",
]
