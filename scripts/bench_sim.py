"""Simulator throughput on one core: LaneKeeping-v0 (rendered and simulated, 78x200)
against gymnasium's CarRacing-v3 measured in the same run.

    python scripts/bench_sim.py [--steps 3000 --repeats 5 --car-steps 600]

Both environments are built with ``gymnasium.make`` (so both pay the same wrapper
overhead) and stepped in full episodes, resets included; the process is pinned to one
CPU core with OpenCV, BLAS and torch limited to one thread. Our car is driven by its
privileged expert (``info["expert_action"]``), CarRacing by constant throttle. Runs of
the two environments are interleaved and the median over repeats is reported, so that
load from other processes on a shared machine affects both alike.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ.setdefault("NUMBA_NUM_THREADS", "1")

import cv2  # noqa: E402
import gymnasium as gym  # noqa: E402
import numpy as np  # noqa: E402

import lnn_drive.envs  # noqa: E402, F401  (registers the environment)
from lnn_drive.envs import make_env  # noqa: E402


def run_ours(env: gym.Env, steps: int, seed: int) -> float:
    """Steps/s over ``steps`` steps (episodes reset as they end)."""
    t0 = time.perf_counter()
    _, info = env.reset(seed=seed)
    a = np.zeros(1, np.float32)
    for _ in range(steps):
        a[0] = info["expert_action"]
        _, _, term, trunc, info = env.step(a)
        if term or trunc:
            seed += 1
            _, info = env.reset(seed=seed)
    return steps / (time.perf_counter() - t0)


def run_car_racing(env: gym.Env, steps: int, seed: int) -> float:
    t0 = time.perf_counter()
    env.reset(seed=seed)
    a = np.array([0.0, 0.3, 0.0], np.float32)
    for _ in range(steps):
        _, _, term, trunc, _ = env.step(a)
        if term or trunc:
            seed += 1
            env.reset(seed=seed)
    return steps / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=3000, help="LaneKeeping steps per repeat")
    ap.add_argument("--car-steps", type=int, default=600, help="CarRacing steps per repeat")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--preset", default="summer")
    args = ap.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    cv2.setNumThreads(1)
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:  # pragma: no cover
        pass

    ours = make_env({}, preset=args.preset, render_mode=None)
    car = gym.make("CarRacing-v3")
    run_ours(ours, 200, seed=10_000)  # compile / warm caches
    run_car_racing(car, 50, seed=0)
    rates_ours, rates_car = [], []
    for r in range(args.repeats):
        rates_ours.append(run_ours(ours, args.steps, seed=1000 * r))
        rates_car.append(run_car_racing(car, args.car_steps, seed=r))
    ours.close()
    car.close()
    o, c = statistics.median(rates_ours), statistics.median(rates_car)
    h, w = ours.observation_space.shape[:2]
    print(
        f"simulator throughput, one core, episodes of 1000 steps with resets, "
        f"median of {args.repeats} interleaved repeats"
    )
    print(f"| {'environment':<52} | {'steps/s':>8} | {'vs CarRacing':>12} |")
    print(f"|{'-' * 54}|{'-' * 10}|{'-' * 14}|")
    print(
        f"| {f'lnn_drive/LaneKeeping-v0, {h}x{w} RGB, {args.preset}, expert':<52} | {o:>8,.0f} | {o / c:>11.1f}x |"
    )
    print(f"| {'gymnasium CarRacing-v3, 96x96 RGB (top-down)':<52} | {c:>8,.0f} | {1:>11.1f}x |")
    ok = o >= 5000 and o / c >= 25
    print(
        f"\ntargets >= 5,000 steps/s and >= 25x CarRacing-v3: {'met' if ok else 'MISSED'} "
        f"({o:,.0f} steps/s, {o / c:.1f}x)"
    )


if __name__ == "__main__":
    main()
