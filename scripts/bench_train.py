"""Training throughput of the real behaviour-cloning loop in three process layouts.

Runs ``lnn_drive.train.bc.train`` (via ``lnn_drive.train.launch.train_local``) on the same
data for a fixed number of steps per layout and reports the median of the loop's own
``train/frames_per_s`` (logged every ``log_every`` steps; warm-up rows dropped):

- 1 process x 1 thread   (reference)
- 1 process x N threads  (torch intra-op threading: what ``python scripts/train.py`` does)
- N processes x 1 thread (data-parallel ranks over gloo: what the demo does)

    python scripts/bench_train.py [--data DATASET] [--model ncp_cfc] [--steps 60] [--batch 8]

``--amp`` adds N processes x 1 thread with bf16 autocast (``train.amp=true``): fast only
on CPUs with native bf16 (AVX-512-bf16 / AMX), about 10x slower on AVX2.

Without ``--data`` it first collects a small simulator log (6 roads x 300 frames).
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import tempfile
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def frames_per_s(run_dir: Path, skip: int) -> float:
    with open(run_dir / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    vals = [float(r["train/frames_per_s"]) for r in rows if r.get("train/frames_per_s")]
    vals = vals[skip:] or vals
    return statistics.median(vals)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=None, help="driving-log folder (default: collect one)")
    ap.add_argument("--model", default="ncp_cfc")
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--batch", type=int, default=8, help="windows per step and rank")
    ap.add_argument("--nproc", type=int, default=2, help="cores to use")
    ap.add_argument(
        "--amp", action="store_true", help="also N processes x 1 thread with bf16 autocast"
    )
    args = ap.parse_args()

    import torch

    from lnn_drive.commands.config import model_config_named
    from lnn_drive.data import DataConfig
    from lnn_drive.envs.collect import CollectConfig, collect
    from lnn_drive.train import TrainConfig
    from lnn_drive.train.launch import train_local

    tmp = Path(tempfile.mkdtemp(prefix="bench_train_"))
    data = args.data
    if data is None:
        data = str(tmp / "data")
        collect(CollectConfig(out=data, episodes=6, steps=300, progress=False))

    n = args.nproc
    layouts = [("1 process x 1 thread", 1, 1, False), (f"1 process x {n} threads", 1, n, False)]
    layouts.append((f"{n} processes x 1 thread", n, 1, False))
    if args.amp:
        layouts.append((f"{n} processes x 1 thread, bf16 autocast", n, 1, True))
    results = []
    model = model_config_named(args.model)
    dcfg = DataConfig(roots=(data,), batch_size=args.batch, cache_dir=f"{tmp}/cache")
    for name, procs, threads, amp in layouts:
        run = tmp / f"p{procs}t{threads}{'amp' if amp else ''}"
        tc = TrainConfig(
            batch_size=args.batch,
            max_steps=args.steps,
            val_every=args.steps * 10,
            checkpoint_every=args.steps * 10,
            log_every=5,
            progress=False,
            threads=threads * procs,
            amp=amp,
        )
        if procs == 1:
            torch.set_num_threads(threads)
        train_local(tc, data=dcfg, model=model, run_dir=run, nproc=procs, threads_per_proc=threads)
        fps = frames_per_s(run, skip=2)
        results.append((name, fps))
        print(f"{name}: {fps:.0f} frames/s", flush=True)

    ref = results[0][1]
    print(
        f"\nmodel {args.model}, batch {args.batch} windows x 16 frames per rank, 78x200, "
        f"{args.steps} steps each, torch {torch.__version__}\n"
    )
    print("| layout | frames/s | vs 1 x 1 |")
    print("|---|---:|---:|")
    for name, fps in results:
        print(f"| {name} | {fps:.0f} | {fps / ref:.2f}x |")
    print(f"\n(scratch files in {tmp})")


if __name__ == "__main__":
    main()
