"""The one loop's cost: ``run_drives`` through ``drive_rows`` against a copy of the loop
it replaced, same run, same roads, same fast actor (the evaluation's default fast path:
8 in-process simulators, a batched int8 ``FastActor``, one torch thread).

    git show 8e958b1:lnn_drive/eval/rollout.py > /tmp/old_rollout.py
    PYTHONPATH=. python scripts/bench_loop.py --old /tmp/old_rollout.py [--rounds 5]

Prints, per path, the median over interleaved rounds of closed-loop policy steps per
second of the drive loop, the ratio new / old, and whether the traces are identical.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import importlib.util
import platform
import statistics
import sys
import time

import numpy as np
import torch
from bench_eval import build_policy

from lnn_drive.envs import env_fn
from lnn_drive.eval.batched import fast_actor
from lnn_drive.eval.rollout import run_drives


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--old", required=True, help="the replaced lnn_drive/eval/rollout.py")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--drives", type=int, default=16)
    ap.add_argument("--steps", type=int, default=300, help="control steps per drive")
    ap.add_argument("--envs", type=int, default=8)
    args = ap.parse_args()
    if not os.path.isfile(args.old):
        raise SystemExit(f"error: --old {args.old}: no such file")
    spec = importlib.util.spec_from_file_location("old_rollout", args.old)
    old = importlib.util.module_from_spec(spec)
    sys.modules["old_rollout"] = old  # its dataclasses look their module up
    spec.loader.exec_module(old)

    torch.set_num_threads(1)
    policy = build_policy(argparse.Namespace(checkpoint="", model="ncp_cfc"))
    fn = env_fn({}, crash_mode="intervene", max_episode_steps=args.steps)
    actor = fast_actor(policy, fn)
    seeds = list(range(30_000, 30_000 + args.drives))
    kw = dict(seeds=seeds, num_envs=args.envs, vector="inprocess")
    rates: dict[str, list[float]] = {"old loop": [], "drive_rows": []}
    traces = {}
    for _ in range(args.rounds):
        for name, fn_run in (("old loop", old.run_drives), ("drive_rows", run_drives)):
            t0 = time.perf_counter()
            out = fn_run(actor, fn, **kw)
            dt = time.perf_counter() - t0
            rates[name].append(sum(t.steps for t in out) / dt)
            traces[name] = out
    same = all(
        np.array_equal(a.command, b.command) and np.array_equal(a.lateral_offset, b.lateral_offset)
        for a, b in zip(traces["old loop"], traces["drive_rows"], strict=True)
    )
    base = statistics.median(rates["old loop"])
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores")
    print(f"{args.drives} drives x {args.steps} steps, {args.envs} in-process envs, int8 FastActor")
    print(f"| loop | steps/s (median of {args.rounds}) | vs old |")
    print("| --- | ---: | ---: |")
    for name, r in rates.items():
        m = statistics.median(r)
        print(f"| {name} | {m:,.0f} | {m / base:.3f}x |")
    print(f"traces identical: {same}")


if __name__ == "__main__":
    main()
