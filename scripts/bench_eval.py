"""Closed-loop evaluation throughput: the fast batched path against today's path, same run.

For the clean condition and one frame-noise condition (``--noise``), each path drives the
same roads (from ``--seed``, drives of ``--steps`` control steps in intervene mode, the
evaluation's protocol) and the table gives closed-loop policy steps per second end to end,
the ratio to today's path, and the largest |action - eager policy action|.

Paths (``--paths``, comma-separated):

* ``today``: the evaluation before the fast path, the reference: ``run_drives`` with the
  eager ``Policy`` (one torch thread, the torch ``std`` standardisation it had) and an
  ``AsyncVectorEnv`` of 2 simulator processes (``eval.actor=eager eval.vector=async
  eval.num_envs=2``). It drives ``--today-km`` per condition (it is slow); its rate is
  steps over wall time like the others.
* ``main``: ``evaluate``'s structure on main before this change: for each condition a
  ``run_drives_parallel`` call that builds, calibrates and checks its own int8 actor and
  drives in one process (with this branch's ``FastActor``).
* ``new``: one :class:`~lnn_drive.eval.batched.FastDrives` session for both conditions,
  as ``evaluate`` now runs them: the actor built and checked once, ``--workers``
  processes started once; the clean row includes the session's set-up, the noise row
  reuses the session. ``new1`` is the same with one process.

"End to end" is wall time from the call to the traces (actor build, calibration, process
start included). The action difference of a path is the largest |command - today's
command| over the roads both drove, step by step in closed loop (the eager policy is
today's actor), so it covers the worker processes' copies of the actor; for the new path
the open-loop check of the session's actor (calibration frames, with the noise) is also
printed, and a closed loop in which the eager policy shadows the actor on its own frames.

    python scripts/bench_eval.py [--km 20] [--noise 0.1] [--paths today,new] [--workers 2]
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
# workers as direct children (not forkserver grandchildren), so their CPU time is counted
os.environ.setdefault("LNN_DRIVE_MP_START", "spawn")

import argparse
import math
import platform
import resource
import time

import numpy as np
import torch
import yaml

from lnn_drive import PROJECT_ROOT
from lnn_drive.data import Preprocess
from lnn_drive.envs.config import EnvConfig
from lnn_drive.eval import wrappers
from lnn_drive.eval.batched import ACTION_TOLERANCE, FastDrives, ShadowPolicy, run_drives_parallel
from lnn_drive.eval.evaluate import CALIBRATION_ROAD, Condition, EvalConfig, prepare
from lnn_drive.eval.rollout import run_drives
from lnn_drive.models import Policy

fast_normal = wrappers.standard_normal

PATHS = ("today", "main", "new", "new1")


def standardise_before(x: torch.Tensor) -> torch.Tensor:
    """``Preprocess.standardise`` as it was before the fast path (torch ``std``), so that
    "today's path" is measured as it was, not with the fast path's speed-up."""
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


def ziggurat_before(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """The frame-noise sampler before this change (numpy's float32 ziggurat)."""
    return rng.standard_normal(shape, dtype=np.float32)


def _today(policy: Policy, fn, seeds: list[int], variance: float):
    """Today's path, with the standardisation and the noise sampler it had."""
    Policy.standardise = staticmethod(standardise_before)
    wrappers.standard_normal = ziggurat_before
    try:
        return run_drives(
            policy, fn, seeds=seeds, num_envs=2, vector="async", noise_variance=variance
        )
    finally:
        Policy.standardise = staticmethod(Preprocess.standardise)
        wrappers.standard_normal = fast_normal


def children_cpu() -> float:
    """CPU seconds of this process's reaped children (simulator processes of today's path,
    worker processes of the new one, reaped when each closes them)."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--checkpoint", default="", help="trained policy (default: untrained --model)")
    ap.add_argument("--model", default="ncp_cfc")
    ap.add_argument("--km", type=float, default=20.0, help="distance per condition (fast paths)")
    ap.add_argument("--today-km", type=float, default=2.0, help="distance per condition (today)")
    ap.add_argument("--noise", type=float, default=0.1, help="frame-noise variance (0: none)")
    ap.add_argument("--steps", type=int, default=1000, help="control steps per drive")
    ap.add_argument("--paths", default="today,new", help=f"comma-separated, of {PATHS}")
    ap.add_argument("--workers", type=int, default=2, help="processes of the new path")
    ap.add_argument("--envs", type=int, default=8, help="environments per process")
    ap.add_argument("--precision", default="int8", choices=["fp32", "int8", "bf16"])
    ap.add_argument("--seed", type=int, default=30_000, help="first road seed")
    args = ap.parse_args()
    paths = [p for p in args.paths.split(",") if p]
    bad = sorted(set(paths) - set(PATHS))
    if bad or not paths:
        raise SystemExit(f"error: --paths must name some of {', '.join(PATHS)}, got {args.paths!r}")

    torch.set_num_threads(1)
    policy = build_policy(args)
    ecfg = EvalConfig(drive_steps=args.steps)
    fn, dt, speed = prepare(policy, EnvConfig(), ecfg, Condition("clean", EnvConfig().preset))
    per_drive_km = args.steps * speed * dt / 1000.0

    def roads(km: float) -> list[int]:
        return list(range(args.seed, args.seed + max(1, math.ceil(km / per_drive_km - 1e-9))))

    conds = [("clean", 0.0)] + ([(f"noise={args.noise:g}", args.noise)] if args.noise else [])
    rows: list[dict] = []
    today_traces: dict[str, dict[int, np.ndarray]] = {}

    def record(path: str, cond: str, traces, wall: float, cpu: float, note: str = "") -> None:
        steps = sum(t.steps for t in traces)
        # today's noise conditions drew other noise samples (the sampler before this
        # change): only the clean frames are the same on both sides
        ref = today_traces.get(cond, {}) if cond == "clean" else {}
        diffs = [
            float(np.abs(t.command - ref[t.seed]).max())
            for t in traces
            if t.seed in ref and len(ref[t.seed]) == len(t.command)
        ]
        rows.append(
            dict(
                path=path,
                cond=cond,
                steps=steps,
                km=steps * speed * dt / 1000.0,
                wall=wall,
                rate=steps / wall,
                cpu=steps / cpu,
                diff=max(diffs) if diffs and path != "today" else None,
                note=note,
            )
        )
        print(
            f"  {path} {cond}: {steps} steps in {wall:.2f} s ({steps / wall:.0f}/s, "
            f"{steps / cpu:.0f} per CPU-second)",
            flush=True,
        )

    if "today" in paths:
        for cond, var in conds:
            t0, c0, k0 = time.perf_counter(), time.process_time(), children_cpu()
            traces = _today(policy, fn, roads(args.today_km), var)
            cpu = time.process_time() - c0 + children_cpu() - k0
            record("today", cond, traces, time.perf_counter() - t0, cpu)
            today_traces[cond] = {t.seed: t.command for t in traces}
    if "main" in paths:
        for cond, var in conds:
            t0, c0 = time.perf_counter(), time.process_time()
            traces = run_drives_parallel(
                policy,
                fn,
                seeds=roads(args.km),
                workers=1,
                num_envs=args.envs,
                precision=args.precision,
                calibration_seed=CALIBRATION_ROAD,
                noise_variance=var,
            )
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            record("main", cond, traces, wall, cpu, "actor built per condition")
    session = None
    for path in [p for p in paths if p in ("new", "new1")]:
        workers = args.workers if path == "new" else 1
        name = f"{path} ({workers} process{'es' if workers > 1 else ''})"
        t0, c0, k0 = time.perf_counter(), time.process_time(), children_cpu()
        session = FastDrives(
            policy,
            fn,
            workers=workers,
            num_envs=args.envs,
            precision=args.precision,
            calibration_seed=CALIBRATION_ROAD,
            check_noise=[(math.sqrt(v), False) for _, v in conds if v > 0],
        )
        runs = []
        with session:
            setup = time.perf_counter() - t0
            for cond, var in conds:
                timings: dict[str, float] = {}
                t1 = time.perf_counter()
                traces = session.run(fn, seeds=roads(args.km), noise_variance=var, timings=timings)
                runs.append((cond, traces, time.perf_counter() - t1, timings["cpu_s"]))
        total_wall = time.perf_counter() - t0
        total_cpu = time.process_time() - c0 + children_cpu() - k0
        # set-up: building and checking the actor, starting the workers (their imports)
        setup_cpu = total_cpu - sum(r[3] for r in runs)
        for i, (cond, traces, wall, cpu) in enumerate(runs):
            if i == 0:
                note = f"incl. the session's set-up ({setup:.1f} s, {setup_cpu:.1f} CPU-s)"
                record(name, cond, traces, wall + setup, cpu + setup_cpu, note)
            else:
                record(name, cond, traces, wall, cpu, "session reused")
        steps = sum(sum(t.steps for t in r[1]) for r in runs)
        rows.append(
            dict(
                path=name,
                cond="all conditions",
                steps=steps,
                km=steps * speed * dt / 1000.0,
                wall=total_wall,
                rate=steps / total_wall,
                cpu=steps / total_cpu,
                diff=None,
                note="one evaluation, end to end",
            )
        )

    # accuracy of the session's actor in closed loop, the eager policy shadowing it on
    # the frames (and noise) the actor drives on
    shadow_err: dict[str, float] = {}
    shadow_steps = 0
    if session is not None:
        for cond, var in conds:
            shadow = ShadowPolicy(session.actor, policy)
            run_drives(
                shadow,
                fn,
                seeds=roads(args.today_km)[:4],
                num_envs=4,
                vector="inprocess",
                noise_variance=var,
            )
            shadow_err[cond], shadow_steps = shadow.max_error, shadow_steps + shadow.steps
        for r in rows:
            if r["path"].startswith("new") and r["cond"] in shadow_err:
                r["diff"] = max(r["diff"] or 0.0, shadow_err[r["cond"]])

    today = [r for r in rows if r["path"] == "today"]
    refs = {r["cond"]: (r["rate"], r["cpu"]) for r in today}
    if today:
        steps = sum(r["steps"] for r in today)
        refs["all conditions"] = (
            steps / sum(r["wall"] for r in today),
            steps / sum(r["steps"] / r["cpu"] for r in today),
        )
    print()
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"torch {torch.__version__}, {torch.backends.cpu.get_cpu_capability()}; "
        f"load average at the end {os.getloadavg()[0]:.1f}"
    )
    print(
        f"policy: {args.checkpoint or args.model + ' (untrained)'}; drives of {args.steps} "
        f"steps ({per_drive_km * 1000:.0f} m); {args.envs} environments per process"
    )
    print()
    print(
        "| path | condition | km | steps | wall s | steps/s end to end | vs today "
        "| steps per CPU-second | vs today | max abs action diff vs eager | note |"
    )
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    for r in rows:
        ref = refs.get(r["cond"])
        ratio = f"{r['rate'] / ref[0]:.2f}x" if ref else "-"
        cpu_ratio = f"{r['cpu'] / ref[1]:.2f}x" if ref else "-"
        diff = f"{r['diff']:.1e}" if r["diff"] is not None else "-"
        print(
            f"| {r['path']} | {r['cond']} | {r['km']:.1f} | {r['steps']} | {r['wall']:.1f} | "
            f"{r['rate']:.0f} | {ratio} | {r['cpu']:.0f} | {cpu_ratio} | {diff} | {r['note']} |"
        )
    print()
    worst = [r["diff"] for r in rows if r["diff"] is not None]
    if session is not None:
        err = max(shadow_err.values())
        print(
            f"session actor ({session.actor.precision}): max abs action diff "
            f"{session.actor.max_error:.1e} on the check frames (clean and noisy), {err:.1e} in "
            f"closed loop shadowed by the eager policy over {shadow_steps} steps (tolerance "
            f"{ACTION_TOLERANCE:g}). The table's column: new paths, max of that closed-loop "
            f"shadow and |command - today's| road by road (clean); main, the latter."
        )
        worst += [session.actor.max_error, err]
    if worst and max(worst) > ACTION_TOLERANCE:
        raise SystemExit(
            f"error: actions differ from the eager policy's by {max(worst):.1e} > 1e-2"
        )


if __name__ == "__main__":
    main()
