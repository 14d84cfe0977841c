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


def _clock() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def _rates(steps: int, t0: tuple[float, float]) -> tuple[float, float]:
    """(steps per wall-clock second, steps per CPU second of this process)."""
    w, c = _clock()
    return steps / (w - t0[0]), steps / max(c - t0[1], 1e-9)


def run_ours(env: gym.Env, steps: int, seed: int) -> tuple[float, float]:
    """Steps/s over ``steps`` steps (episodes reset as they end)."""
    t0 = _clock()
    _, info = env.reset(seed=seed)
    a = np.zeros(1, np.float32)
    for _ in range(steps):
        a[0] = info["expert_action"]
        _, _, term, trunc, info = env.step(a)
        if term or trunc:
            seed += 1
            _, info = env.reset(seed=seed)
    return _rates(steps, t0)


def run_car_racing(env: gym.Env, steps: int, seed: int) -> tuple[float, float]:
    t0 = _clock()
    env.reset(seed=seed)
    a = np.array([0.0, 0.3, 0.0], np.float32)
    for _ in range(steps):
        _, _, term, trunc, _ = env.step(a)
        if term or trunc:
            seed += 1
            env.reset(seed=seed)
    return _rates(steps, t0)


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
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    ow, oc = (statistics.median(r[i] for r in rates_ours) for i in (0, 1))
    cw, cc = (statistics.median(r[i] for r in rates_car) for i in (0, 1))
    h, w = ours.observation_space.shape[:2]
    print(
        f"simulator throughput, one core, 1000-step episodes with resets, median of "
        f"{args.repeats} interleaved repeats (load average {load:.1f} on {os.cpu_count()} CPUs)"
    )
    print(
        f"| {'environment':<52} | {'steps/s (wall)':>14} | {'steps/CPU-s':>11} | {'vs CarRacing':>12} |"
    )
    print(f"|{'-' * 54}|{'-' * 16}|{'-' * 13}|{'-' * 14}|")
    name = f"lnn_drive/LaneKeeping-v0, {h}x{w} RGB, {args.preset}, expert"
    print(f"| {name:<52} | {ow:>14,.0f} | {oc:>11,.0f} | {oc / cc:>11.1f}x |")
    name = "gymnasium CarRacing-v3, 96x96 RGB (top-down)"
    print(f"| {name:<52} | {cw:>14,.0f} | {cc:>11,.0f} | {1:>11.1f}x |")
    print(
        "\nsteps/CPU-s counts only the CPU time this process got, so it stays meaningful when "
        "other jobs share the core; on an idle core the two columns agree."
    )
    ok = oc >= 5000 and oc / cc >= 25
    print(
        f"targets >= 5,000 steps/s and >= 25x CarRacing-v3: {'met' if ok else 'MISSED'} "
        f"({oc:,.0f} steps/CPU-s, wall {ow:,.0f}; {oc / cc:.1f}x)"
    )


if __name__ == "__main__":
    main()
