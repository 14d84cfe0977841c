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
  ``workers`` processes (this one and ``workers - 1`` children), each with its own
  environments and a copy of the actor; traces do not depend on the split.

A :class:`FastDrives` session does the expensive parts once per evaluation, not once per
condition: the actor is built, int8-calibrated and checked once (on frames of every
condition's environment), the worker processes are started once (their imports overlap
the actor's build) and receive the built actor once, pickled as its compiled graph; each
:meth:`FastDrives.run` then only sends road seeds and the condition's environment.
"""

from __future__ import annotations

import os
import pickle
import time
import traceback
from collections.abc import Callable, Sequence
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
    ref, hx = [], None
    with torch.inference_mode():
        # 4 steps at a time, the state carried: one (B*N)-frame conv batch is ~1.7x
        # slower per frame (its activations do not fit in cache)
        for t in range(0, n, 4):
            chunk = torch.from_numpy(seq[t : t + 4].transpose(1, 0, 2, 3, 4).copy())
            out, hx = policy.eval()(chunk, hx)  # (B, <=4, k)
            ref.append(out.numpy())
    actor.reset(batch)
    return float(np.abs(ours - np.concatenate(ref, axis=1)).max())  # (B, N, k)


def fast_actor(
    policy: Any,
    env_fn: Callable[[], gym.Env],
    *,
    precision: str = "int8",
    calibration_seed: int = 0,
    tolerance: float = ACTION_TOLERANCE,
    check_fns: Sequence[Callable[[], gym.Env]] = (),
    check_noise: Sequence[tuple[float, bool]] = (),
) -> Any:
    """A :class:`~lnn_drive.models.inference.FastActor` of ``policy`` checked against it.

    int8 activations are calibrated on frames of the evaluation environment (road
    ``calibration_seed``, driven by the expert), plus a few frames of each environment of
    ``check_fns`` (other conditions' appearances). The actor is accepted only if its
    actions stay within ``tolerance`` of the eager policy's on all those frames, and on the
    clean frames with each ``check_noise`` noise added; otherwise the fp32 actor is used
    (its error is ~1e-7).

    Args:
        policy: The eager torch policy.
        env_fn: The evaluation environment (calibration and check frames).
        precision: ``int8``, ``fp32`` or ``bf16``.
        calibration_seed: Road of the calibration frames.
        tolerance: Largest accepted action difference (physical units).
        check_fns: Further environments (e.g. other appearance presets) whose frames join
            the calibration (16 each) and the check (32 each).
        check_noise: ``(std, relative)`` frame noises (see
            :func:`~lnn_drive.eval.wrappers.add_frame_noise`) the check also runs with.

    Returns:
        The actor, with ``actor.max_error`` (the largest measured difference) set.
    """
    from lnn_drive.eval.wrappers import add_frame_noise
    from lnn_drive.models.inference import FastActor

    frames = calibration_frames(env_fn, policy, seed=calibration_seed, n=96)
    extra = [calibration_frames(f, policy, seed=calibration_seed, n=32) for f in check_fns]
    calibration = np.concatenate([frames[:64], *(e[:16] for e in extra)])
    rng = np.random.default_rng(calibration_seed)
    checks = [frames, *extra]
    checks += [add_frame_noise(frames[:32], std, rng, relative=rel) for std, rel in check_noise]

    def worst(actor: Any) -> float:
        return max(action_error(actor, policy, f) for f in checks)

    actor = FastActor(policy, precision=precision, calibration=calibration)
    err = worst(actor)
    if err > tolerance and precision != "fp32":
        actor = FastActor(policy, precision="fp32")
        err = worst(actor)
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


class FastDrives:
    """A fast closed-loop session: one checked :class:`FastActor` and ``workers - 1``
    worker processes, reused by every :meth:`run` (every condition of an evaluation).

    Building it starts the worker processes, builds and checks the actor
    (:func:`fast_actor`) in this process meanwhile, then sends each worker the built actor
    (pickled as its compiled graph: workers neither rebuild nor recalibrate). Use it as a
    context manager, or call :meth:`close`.

    Args:
        policy: The eager torch policy.
        env_fn: The evaluation environment the actor is calibrated and checked on.
        workers: Processes the road seeds of a run are split over (this one included).
        num_envs: In-process environments per process.
        precision: FastActor precision (``int8``, ``fp32`` or ``bf16``).
        calibration_seed: Road of the calibration frames.
        check_fns: Environments of the other conditions, for the calibration and check.
        check_noise: ``(std, relative)`` noises of the noise conditions, for the check.
        threads: Torch threads of each worker process.
    """

    def __init__(
        self,
        policy: Any,
        env_fn: Callable[[], gym.Env],
        *,
        workers: int = 1,
        num_envs: int = 8,
        precision: str = "int8",
        calibration_seed: int = 0,
        check_fns: Sequence[Callable[[], gym.Env]] = (),
        check_noise: Sequence[tuple[float, bool]] = (),
        threads: int = 1,
    ) -> None:
        if int(workers) < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        if int(num_envs) < 1:
            raise ValueError(f"num_envs must be >= 1, got {num_envs}")
        self.workers = int(workers)
        self.num_envs = int(num_envs)
        self.builds = 0  # actors built by this session (one; tests check it)
        self._conns: list[Any] = []
        self._procs: list[Any] = []
        try:
            ctx = _mp_context()
            for _ in range(self.workers - 1):
                here, there = ctx.Pipe()
                proc = ctx.Process(
                    target=_worker_main, args=(there, int(threads), env_fn), daemon=True
                )
                proc.start()
                there.close()
                self._conns.append(here)
                self._procs.append(proc)
            self.actor = fast_actor(
                policy,
                env_fn,
                precision=precision,
                calibration_seed=calibration_seed,
                check_fns=check_fns,
                check_noise=check_noise,
            )
            self.builds += 1
            blob = pickle.dumps(self.actor)
            for conn in self._conns:
                conn.send(("actor", blob))
        except BaseException:
            self.close()
            raise

    def run(
        self,
        env_fn: Callable[[], gym.Env],
        *,
        seeds: Sequence[int],
        workers: int | None = None,
        timings: dict[str, float] | None = None,
        **kw: Any,
    ) -> list[DriveTrace]:
        """:func:`~lnn_drive.eval.rollout.run_drives` of the session's actor on ``env_fn``,
        the road seeds split into contiguous chunks over the session's processes.

        This process drives the first chunk, so ``on_frame`` (which sees the first drive)
        and ``progress`` (this chunk's drives) work with any number of workers.

        Args:
            env_fn: The condition's environment (picklable).
            seeds: Road seeds, one drive each.
            workers: Use at most this many of the session's processes (default: all).
            timings: If a dict, ``timings["loop_s"]`` is set to the wall time of the
                slowest process's drive loop and ``timings["cpu_s"]`` to the CPU time of
                all processes' drive loops.
            **kw: The remaining ``run_drives`` arguments (noise, preset, dt, on_frame, ...).

        Returns:
            The traces in the order of ``seeds``; they do not depend on the split.
        """
        from lnn_drive.eval.rollout import run_drives

        if not self._procs and self.workers > 1:
            raise RuntimeError("FastDrives.run: the session is closed")
        seeds = [int(s) for s in seeds]
        if not seeds:
            raise ValueError("no road seeds to drive")
        use = min(self.workers if workers is None else max(1, int(workers)), len(seeds))
        # contiguous chunks keep each process's roads together; order is restored below
        chunks = [[int(s) for s in c] for c in np.array_split(np.asarray(seeds), use)]
        child_kw = {k: v for k, v in kw.items() if k not in ("on_frame", "progress")}
        child_kw["num_envs"] = self.num_envs
        for conn, chunk in zip(self._conns, chunks[1:], strict=False):
            conn.send(("run", env_fn, chunk, child_kw))
        t0, c0 = time.perf_counter(), time.process_time()
        error: Exception | None = None
        try:
            parts = [
                run_drives(
                    self.actor,
                    env_fn,
                    seeds=chunks[0],
                    num_envs=self.num_envs,
                    vector="inprocess",
                    **kw,
                )
            ]
        except Exception as e:  # still collect the workers' answers, then raise
            error, parts = e, []
        loops, cpu = [time.perf_counter() - t0], time.process_time() - c0
        for conn in self._conns[: len(chunks) - 1]:
            kind, payload, loop_s, cpu_s = _recv(conn)
            if kind == "error" and error is None:
                error = payload
            elif kind == "ok":
                parts.append(payload)
                loops.append(loop_s)
                cpu += cpu_s
        if error is not None:
            raise error
        if timings is not None:
            timings["loop_s"] = max(loops)
            timings["cpu_s"] = cpu
        by_seed = {t.seed: t for part in parts for t in part}
        return [by_seed[s] for s in seeds]

    def close(self) -> None:
        """Stop the worker processes (idempotent)."""
        for conn in self._conns:
            try:
                conn.send(("close",))
                conn.close()
            except OSError:
                pass
        for proc in self._procs:
            proc.join(timeout=10)
            if proc.is_alive():
                proc.terminate()
                proc.join(timeout=5)
        self._conns, self._procs = [], []

    def __enter__(self) -> FastDrives:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _recv(conn: Any) -> tuple[str, Any, float, float]:
    """A worker's answer: ``(kind, traces or exception, loop wall s, loop CPU s)``."""
    try:
        return conn.recv()
    except EOFError:
        return "error", RuntimeError("a FastDrives worker process died"), 0.0, 0.0


def _worker_main(conn: Any, threads: int, warm_env_fn: Callable[[], gym.Env]) -> None:
    """A worker process: receive the actor once, then drive the road seeds of each run.

    While the parent builds the actor, it imports torch and starts one environment (the
    simulator's numba kernels load from their cache on first use), so the first run does
    not wait for either.
    """
    import torch

    from lnn_drive.eval.rollout import run_drives

    torch.set_num_threads(threads)
    try:
        env = warm_env_fn()
        env.reset(seed=0)
        env.close()
    except Exception:  # only a warm-up: a broken environment fails the run, with its error
        pass
    actor = None
    while True:
        try:
            msg = conn.recv()
        except EOFError:
            return
        if msg[0] == "close":
            return
        if msg[0] == "actor":
            actor = pickle.loads(msg[1])
            continue
        _, env_fn, seeds, kw = msg
        try:
            t0, c0 = time.perf_counter(), time.process_time()
            traces = run_drives(actor, env_fn, seeds=seeds, vector="inprocess", **kw)
            conn.send(("ok", traces, time.perf_counter() - t0, time.process_time() - c0))
        except Exception as e:
            try:
                conn.send(("error", e, 0.0, 0.0))
            except Exception:  # an exception that does not pickle
                conn.send(("error", RuntimeError(traceback.format_exc()), 0.0, 0.0))


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
    """One :meth:`FastDrives.run` in a session of its own (the actor built, the workers
    started and stopped for this call alone); several conditions should share a session.

    ``kw`` are the remaining ``run_drives`` arguments (noise, preset, dt, on_frame, ...).
    Returns the traces in the order of ``seeds``.
    """
    workers = max(1, min(int(workers), len(seeds)))
    with FastDrives(
        policy,
        env_fn,
        workers=workers,
        num_envs=num_envs,
        precision=precision,
        calibration_seed=calibration_seed,
    ) as session:
        return session.run(env_fn, seeds=seeds, timings=timings, **kw)


def _mp_context():
    import multiprocessing as mp

    # fork would copy torch's thread pool state; spawn/forkserver start clean
    method = "forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn"
    return mp.get_context(os.environ.get("LNN_DRIVE_MP_START", method))


__all__ = [
    "ACTION_TOLERANCE",
    "FastDrives",
    "InProcessVectorEnv",
    "ShadowPolicy",
    "action_error",
    "calibration_frames",
    "fast_actor",
    "run_drives_parallel",
]
