"""Simulator throughput on one core: LaneKeeping-v0 (rendered and simulated, 78x200), easy
and hard task profiles, against gymnasium's CarRacing-v3 measured in the same run.

    python scripts/bench_sim.py [--steps 3000 --repeats 5 --car-steps 600 --profiles easy,hard]

Both environments are built with ``gymnasium.make`` (so both pay the same wrapper
overhead) and stepped in full episodes, resets included; the process is pinned to one
CPU core with OpenCV, BLAS and torch limited to one thread. Our car is driven by its
privileged expert (``info["expert_action"]``), CarRacing by constant throttle. Runs of
the environments are interleaved and the median over repeats is reported, so that
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

from lnn_drive.envs import EnvConfig, make_env  # noqa: E402


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
    ap.add_argument("--profiles", default="easy,hard", help="task profiles, comma-separated")
    args = ap.parse_args()
    profiles = [p for p in args.profiles.split(",") if p]
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    cv2.setNumThreads(1)
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:  # pragma: no cover
        pass

    ours = {
        p: make_env(EnvConfig.from_profile(p, preset=args.preset), render_mode=None)
        for p in profiles
    }
    car = gym.make("CarRacing-v3")
    for env in ours.values():
        run_ours(env, 200, seed=10_000)  # compile / warm caches
    run_car_racing(car, 50, seed=0)
    rates: dict[str, list[tuple[float, float]]] = {p: [] for p in profiles}
    rates_car = []
    for r in range(args.repeats):
        for p, env in ours.items():
            rates[p].append(run_ours(env, args.steps, seed=1000 * r))
        rates_car.append(run_car_racing(car, args.car_steps, seed=r))
    for env in ours.values():
        env.close()
    car.close()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    med = {p: tuple(statistics.median(x[i] for x in v) for i in (0, 1)) for p, v in rates.items()}
    cw, cc = (statistics.median(r[i] for r in rates_car) for i in (0, 1))
    h, w = next(iter(ours.values())).observation_space.shape[:2]
    print(
        f"simulator throughput, one core, 1000-step episodes with resets, median of "
        f"{args.repeats} interleaved repeats (load average {load:.1f} on {os.cpu_count()} CPUs)"
    )
    print(
        f"| {'environment':<58} | {'steps/s (wall)':>14} | {'steps/CPU-s':>11} | {'vs CarRacing':>12} |"
    )
    print(f"|{'-' * 60}|{'-' * 16}|{'-' * 13}|{'-' * 14}|")
    for p, (ow, oc) in med.items():
        name = f"lnn_drive/LaneKeeping-v0 {p}, {h}x{w} RGB, {args.preset}, expert"
        print(f"| {name:<58} | {ow:>14,.0f} | {oc:>11,.0f} | {oc / cc:>11.1f}x |")
    name = "gymnasium CarRacing-v3, 96x96 RGB (top-down)"
    print(f"| {name:<58} | {cw:>14,.0f} | {cc:>11,.0f} | {1:>11.1f}x |")
    print(
        "\nsteps/CPU-s counts only the CPU time this process got, so it stays meaningful when "
        "other jobs share the core; on an idle core the two columns agree."
    )
    for p, (ow, oc) in med.items():
        ok = oc >= 5000 and oc / cc >= 25
        print(
            f"{p}: targets >= 5,000 steps/s and >= 25x CarRacing-v3: {'met' if ok else 'MISSED'} "
            f"({oc:,.0f} steps/CPU-s, wall {ow:,.0f}; {oc / cc:.1f}x)"
        )


if __name__ == "__main__":
    main()
