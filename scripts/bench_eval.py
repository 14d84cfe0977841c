"""Closed-loop evaluation throughput: the fast batched path against today's path, same run.

Today's path (the evaluation before this change): ``run_drives`` with the eager ``Policy``
(one torch thread) and an ``AsyncVectorEnv`` of 2 simulator processes (``eval.num_envs=2
eval.vector=async``). The fast path: ``run_drives_parallel``, road seeds split over
``--workers`` processes, each with ``--envs`` in-process simulators and one batched
``FastActor`` forward per step (``--precision``, int8 by default, calibrated on the
environment's frames and checked against the eager policy).

Both drive the same roads (intervene mode, the benchmark's protocol) in alternating
rounds; the table gives medians over rounds of closed-loop policy steps per second, end to
end (process start, compilation and calibration included) and for the drive loop alone,
and the ratio to today's path, plus closed-loop steps per CPU-second (all processes'
user + system time), which a shared, overloaded machine distorts much less than wall time
(under contention a path with more processes gets a larger share of the CPUs). Accuracy: the largest |fast - eager| action (a) on a
shuffled-batch frame sequence and (b) in closed loop, the eager policy shadowing the fast
actor on the very frames it drove on.

    python scripts/bench_eval.py [--checkpoint PATH | --model ncp_cfc] [--rounds 3]
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
# workers as direct children (not forkserver grandchildren), so their CPU time is counted
os.environ.setdefault("LNN_DRIVE_MP_START", "spawn")

import argparse
import platform
import resource
import statistics
import time

import torch
import yaml

from lnn_drive import PROJECT_ROOT
from lnn_drive.data import Preprocess
from lnn_drive.envs import env_fn as make_env_fn
from lnn_drive.eval.batched import ACTION_TOLERANCE, ShadowPolicy, fast_actor, run_drives_parallel
from lnn_drive.eval.rollout import run_drives
from lnn_drive.models import Policy


def standardise_before(x: torch.Tensor) -> torch.Tensor:
    """``Preprocess.standardise`` as it was before the fast path (torch ``std``), so that
    "today's path" is measured as it was, not with this change's speed-up."""
    x = x.float()
    n = x.shape[-3] * x.shape[-2] * x.shape[-1]
    mean = x.mean(dim=(-3, -2, -1), keepdim=True)
    std = x.std(dim=(-3, -2, -1), keepdim=True, unbiased=False)
    return (x - mean) / std.clamp_min(1.0 / n**0.5)


def build_policy(args: argparse.Namespace) -> Policy:
    if args.checkpoint:
        return Policy.load(args.checkpoint)
    cfg = yaml.safe_load((PROJECT_ROOT / "conf" / "model" / f"{args.model}.yaml").read_text())
    torch.manual_seed(0)
    # untrained weights: the cost of a forward does not depend on them; the output scaling
    # is that of a trained steering policy, so drives are realistic in length
    return Policy(
        model_cfg=cfg,
        preprocess=Preprocess(height=78, width=200).with_input(78, 200),
        output_names=["steering"],
        target_mean=[0.0],
        target_std=[0.02],
    ).eval()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--checkpoint", default="", help="trained policy (default: untrained --model)")
    ap.add_argument("--model", default="ncp_cfc")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=500, help="control steps per drive")
    ap.add_argument("--today-drives", type=int, default=4)
    ap.add_argument("--fast-drives", type=int, default=32)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--envs", type=int, default=8, help="environments per worker")
    ap.add_argument("--precision", default="int8", choices=["fp32", "int8", "bf16"])
    ap.add_argument("--seed", type=int, default=30_000, help="first road seed")
    args = ap.parse_args()

    policy = build_policy(args)
    env_cfg = {"crash_mode": "intervene", "max_episode_steps": args.steps}
    fn = make_env_fn(env_cfg)
    seeds_today = list(range(args.seed, args.seed + args.today_drives))
    seeds_fast = list(range(args.seed, args.seed + args.fast_drives))

    rows: dict[str, dict[str, list[float]]] = {}

    def cpu_s() -> float:
        """CPU seconds used so far by this process and its reaped children (simulator and
        worker processes are reaped when each path closes them)."""
        a, b = (
            resource.getrusage(resource.RUSAGE_SELF),
            resource.getrusage(resource.RUSAGE_CHILDREN),
        )
        return a.ru_utime + a.ru_stime + b.ru_utime + b.ru_stime

    def record(name: str, steps: int, wall: float, loop: float | None, cpu: float) -> None:
        r = rows.setdefault(name, {"e2e": [], "loop": [], "cpu": []})
        r["e2e"].append(steps / wall)
        r["cpu"].append(steps / cpu)
        if loop is not None:
            r["loop"].append(steps / loop)
        print(
            f"  {name}: {steps} steps in {wall:.2f} s ({steps / wall:.0f} steps/s, "
            f"{steps / cpu:.0f} steps per CPU-second)",
            flush=True,
        )

    fast_variants = [(args.workers, args.envs, args.precision)]
    if args.workers != 1:
        fast_variants.append((1, args.envs, args.precision))
    for r in range(args.rounds):
        print(f"round {r + 1}/{args.rounds}", flush=True)
        torch.set_num_threads(1)
        for name, std in (
            ("today: eager Policy, AsyncVectorEnv x2", standardise_before),
            ("today + two-pass standardise", Preprocess.standardise),
        ):
            Policy.standardise = staticmethod(std)
            t0, c0 = time.perf_counter(), cpu_s()
            traces = run_drives(policy, fn, seeds=seeds_today, num_envs=2, vector="async")
            wall = time.perf_counter() - t0
            record(name, sum(t.steps for t in traces), wall, None, cpu_s() - c0)
        Policy.standardise = staticmethod(Preprocess.standardise)
        for w, n, prec in fast_variants:
            timings: dict[str, float] = {}
            t0, c0 = time.perf_counter(), cpu_s()
            traces = run_drives_parallel(
                policy,
                fn,
                seeds=seeds_fast,
                workers=w,
                num_envs=n,
                precision=prec,
                timings=timings,
            )
            wall = time.perf_counter() - t0
            name = f"fast: {w} worker(s) x {n} in-process envs, batched FastActor {prec}"
            record(name, sum(t.steps for t in traces), wall, timings["loop_s"], cpu_s() - c0)

    # accuracy: open loop on expert-driven frames, then closed loop shadowed by the eager policy
    torch.set_num_threads(1)
    actor = fast_actor(policy, fn, precision=args.precision)
    shadow = ShadowPolicy(actor, policy)
    run_drives(shadow, fn, seeds=seeds_fast[:8], num_envs=8, vector="inprocess")

    ref = statistics.median(rows["today: eager Policy, AsyncVectorEnv x2"]["e2e"])
    print()
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"torch {torch.__version__}, {torch.backends.cpu.get_cpu_capability()}; "
        f"load average at the end {os.getloadavg()[0]:.1f}"
    )
    print(f"policy: {args.checkpoint or args.model + ' (untrained)'}; drives of {args.steps} steps")
    print()
    ref_cpu = statistics.median(rows["today: eager Policy, AsyncVectorEnv x2"]["cpu"])
    print(
        "| path | steps/s end to end | vs today | steps/s drive loop | steps per CPU-second "
        "| vs today |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name, r in rows.items():
        e2e, cpu = statistics.median(r["e2e"]), statistics.median(r["cpu"])
        loop = f"{statistics.median(r['loop']):.0f}" if r["loop"] else "-"
        print(
            f"| {name} | {e2e:.0f} | {e2e / ref:.2f}x | {loop} | {cpu:.0f} | {cpu / ref_cpu:.2f}x |"
        )
    print()
    print(
        f"max |fast - eager| action ({args.precision}): {actor.max_error:.1e} on expert-driven "
        f"frames (8 rows), {shadow.max_error:.1e} in closed loop over {shadow.steps} steps "
        f"(tolerance {ACTION_TOLERANCE:g})"
    )
    ok = max(actor.max_error, shadow.max_error) <= ACTION_TOLERANCE
    if not ok:
        raise SystemExit("error: fast actor differs from the eager policy by more than 1e-2")


if __name__ == "__main__":
    main()
