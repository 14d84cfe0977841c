"""Simulator throughput on one core: FlyToTarget-v0 (rendered, default 72x128) against
gymnasium's CarRacing-v3 measured in the same run.

    python scripts/bench_drone.py [--steps 3000 --repeats 5 --car-steps 600 --season summer]

Same protocol as ``scripts/bench_sim.py`` (whose CarRacing loop and clocks it reuses):
both environments built with ``gymnasium.make``, stepped in full episodes with resets,
the process pinned to one CPU core, runs interleaved, medians over repeats reported.
The drone is flown by its privileged expert (``info["expert_action"]``, computed every
step), so the figure includes the expert, the dynamics, collision tests and rendering.
"""

from __future__ import annotations

import argparse
import os
import statistics

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ.setdefault("NUMBA_NUM_THREADS", "1")

import cv2  # noqa: E402
import gymnasium as gym  # noqa: E402
from bench_sim import _clock, _rates, run_car_racing  # noqa: E402  (scripts/ is on sys.path)

import lnn_drive.envs  # noqa: E402, F401  (registers the environments)
from lnn_drive.envs.fly_to_target import make_drone_env  # noqa: E402

#: The bar of issue 14.
TARGET_STEPS_PER_S = 3000


def run_drone(env: gym.Env, steps: int, seed: int) -> tuple[float, float]:
    """Steps/s over ``steps`` expert-flown steps (episodes reset as they end)."""
    t0 = _clock()
    _, info = env.reset(seed=seed)
    for _ in range(steps):
        _, _, term, trunc, info = env.step(info["expert_action"])
        if term or trunc:
            seed += 1
            _, info = env.reset(seed=seed)
    return _rates(steps, t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=3000, help="FlyToTarget steps per repeat")
    ap.add_argument("--car-steps", type=int, default=600, help="CarRacing steps per repeat")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--season", default="summer")
    ap.add_argument("--height", type=int, default=None, help="camera height (default: env's)")
    ap.add_argument("--width", type=int, default=None, help="camera width (default: env's)")
    args = ap.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    cv2.setNumThreads(1)
    size = {k: v for k, v in (("height", args.height), ("width", args.width)) if v}
    drone = make_drone_env(season=args.season, render_mode=None, **size)
    car = gym.make("CarRacing-v3")
    run_drone(drone, 200, seed=10_000)  # compile / warm caches
    run_car_racing(car, 50, seed=0)
    rates_drone, rates_car = [], []
    for r in range(args.repeats):
        rates_drone.append(run_drone(drone, args.steps, seed=1000 * r))
        rates_car.append(run_car_racing(car, args.car_steps, seed=r))
    drone.close()
    car.close()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    dw, dc = (statistics.median(r[i] for r in rates_drone) for i in (0, 1))
    cw, cc = (statistics.median(r[i] for r in rates_car) for i in (0, 1))
    h, w = drone.observation_space.shape[:2]
    print(
        f"drone simulator throughput, one core, expert-flown episodes with resets, median of "
        f"{args.repeats} interleaved repeats (load average {load:.1f} on {os.cpu_count()} CPUs)"
    )
    print(
        f"| {'environment':<52} | {'steps/s (wall)':>14} | {'steps/CPU-s':>11} | {'vs CarRacing':>12} |"
    )
    print(f"|{'-' * 54}|{'-' * 16}|{'-' * 13}|{'-' * 14}|")
    name = f"lnn_drive/FlyToTarget-v0, {h}x{w} RGB, {args.season}, expert"
    print(f"| {name:<52} | {dw:>14,.0f} | {dc:>11,.0f} | {dc / cc:>11.1f}x |")
    name = "gymnasium CarRacing-v3, 96x96 RGB (top-down)"
    print(f"| {name:<52} | {cw:>14,.0f} | {cc:>11,.0f} | {1:>11.1f}x |")
    ok = dc >= TARGET_STEPS_PER_S
    print(
        f"target >= {TARGET_STEPS_PER_S:,} rendered steps/s on one core: "
        f"{'met' if ok else 'MISSED'} ({dc:,.0f} steps/CPU-s, wall {dw:,.0f}; {dc / cc:.1f}x CarRacing-v3)"
    )


if __name__ == "__main__":
    main()
