"""Cost of CarRacing-v3 through the adapter, with the expert, against the bare env (same run).

python scripts/bench_carracing.py [--steps 300 --repeats 3]

Rows: the bare ``gymnasium.make("CarRacing-v3")`` stepped with a constant action (the
reference), the adapter with the expert's action (pixels drawn), and the same without
drawing pixels (``pixels=False``, what the expert check uses). Medians of the repeats.
"""

from __future__ import annotations

import argparse
import statistics
import time

import gymnasium as gym
import numpy as np

from lnn_drive.envs.adapters.carracing import BASE_ID, make_carracing


def _bare(steps: int, seed: int) -> float:
    env = gym.make(BASE_ID)
    env.reset(seed=seed)
    a = np.array([0.0, 0.3, 0.0], np.float32)
    t0 = time.perf_counter()
    for _ in range(steps):
        env.step(a)
    dt = time.perf_counter() - t0
    env.close()
    return steps / dt


def _adapter(steps: int, seed: int, pixels: bool) -> float:
    env = make_carracing(pixels=pixels, max_episode_steps=10 * steps)
    _, info = env.reset(seed=seed)
    t0 = time.perf_counter()
    for _ in range(steps):
        _, _, term, trunc, info = env.step(info["expert_outputs"])
        if term or trunc:
            _, info = env.reset(seed=seed)
    dt = time.perf_counter() - t0
    env.close()
    return steps / dt


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    rows = {
        "CarRacing-v3, constant action (reference)": lambda s: _bare(args.steps, s),
        "adapter + expert, pixels": lambda s: _adapter(args.steps, s, True),
        "adapter + expert, no pixels": lambda s: _adapter(args.steps, s, False),
    }
    res = {k: [] for k in rows}
    for r in range(args.repeats):
        for k, f in rows.items():  # interleaved, so load changes hit every row alike
            res[k].append(f(100 + r))
    ref = statistics.median(res["CarRacing-v3, constant action (reference)"])
    print("| configuration | steps/s (median) | vs reference | s per 1k steps |")
    print("| --- | ---: | ---: | ---: |")
    for k, v in res.items():
        m = statistics.median(v)
        print(f"| {k} | {m:,.0f} | {m / ref:.2f}x | {1000 / m:.2f} |")


if __name__ == "__main__":
    main()
