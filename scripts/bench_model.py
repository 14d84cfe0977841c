"""Benchmark the model against a naive reference measured in the same run.

(a) closed-loop act latency, batch 1, one thread, 78x200: the naive reference is eager
    fp32 (NCHW conv head with 8 separate ``nn.Linear`` per-map layers, float frames
    standardised outside, an ncps cell stepped per frame, as in ncps's Atari example);
    ours is ``lnn_drive.models.inference.FastActor`` in fp32 / int8 / bf16, with the
    largest action difference to the fp32 policy over a 1,000-step sequence.
(b) training throughput on 2 threads (frames/s, forward + backward + Adam step on
    16-frame windows): naive (NCHW, float32 batches, 8 Linear layers) vs ours (``Policy``:
    uint8 batches standardised in-model, channels-last, fused per-map dense), both from
    the same initial weights on the same batches, with their loss curves compared; and
    ours as 2 data-parallel ranks x 1 thread (DDP over gloo, each rank half of every
    batch), which is how the demo and the benchmark train on 2 cores. Where the CPU has
    native bf16 (AVX-512-bf16 / AMX) it adds the same two with bf16 autocast.

    python scripts/bench_model.py [--model ncp_cfc] [--checkpoint PATH] [--frames DATASET]
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import copy
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from torch import nn

from lnn_drive import PROJECT_ROOT
from lnn_drive.data import Preprocess
from lnn_drive.models import Policy
from lnn_drive.models.inference import FastActor
from lnn_drive.train.allocator import tune_allocator
from lnn_drive.train.bc import weighted_mse


class NaiveModel(nn.Module):
    """The reference: paper conv head written plainly + the same ncps controller."""

    def __init__(self, policy: Policy) -> None:
        super().__init__()
        enc = policy.encoder
        self.convs = nn.ModuleList(copy.deepcopy(c) for c in enc.conv_layers())
        for c in self.convs:  # back to the default NCHW layout
            c.weight.data = c.weight.data.contiguous()
        self.dense = nn.ModuleList()
        for m in range(enc.maps):
            lin = nn.Linear(enc.map_weight.shape[1], enc.units_per_map)
            lin.weight.data = enc.map_weight.data[m].T.contiguous().clone()
            lin.bias.data = enc.map_bias.data[m].clone()
            self.dense.append(lin)
        self.rnn = copy.deepcopy(policy.controller.rnn)  # ncps LTC/CfC
        # the NCP-CfC's affine motor readout (absent for LTC, whose ncps cell has its own)
        ctrl = policy.controller
        self.out_scale = copy.deepcopy(getattr(ctrl, "out_scale", None))
        self.out_bias = copy.deepcopy(getattr(ctrl, "out_bias", None))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        for c in self.convs:
            x = torch.relu(c(x))
        return torch.cat([torch.relu(d(x[:, i].flatten(1))) for i, d in enumerate(self.dense)], 1)

    def forward(self, x: torch.Tensor, hx: torch.Tensor | None = None):
        b, t = x.shape[:2]
        f = self.features(x.reshape(b * t, *x.shape[2:])).reshape(b, t, -1)
        y, hx = self.rnn(f, hx)
        if self.out_scale is not None:
            y = y * self.out_scale + self.out_bias
        return y, hx


def naive_standardise(frames: np.ndarray) -> torch.Tensor:
    """float32 per-image standardisation in numpy, as a data pipeline without uint8 would."""
    x = frames.astype(np.float32)
    axes = tuple(range(x.ndim - 3, x.ndim))
    mean = x.mean(axis=axes, keepdims=True)
    std = np.maximum(x.std(axis=axes, keepdims=True), 1.0 / np.sqrt(np.prod(x.shape[-3:])))
    return torch.from_numpy(((x - mean) / std).astype(np.float32))


def load_frames(dataset: str | None, n: int, rng: np.random.Generator) -> np.ndarray:
    """(n, 3, 78, 200) uint8: frames of a driving log, or synthetic road frames."""
    if dataset:
        from lnn_drive.data import DrivingLog

        log = DrivingLog(dataset)
        pre = Preprocess().with_input(log.meta.height, log.meta.width)
        out = []
        for ep in log.episodes:
            out.extend(pre.geometry(f) for f in log.frames(ep))
            if len(out) >= n:
                break
        return np.stack(out[:n])
    from lnn_drive.data.synthetic import synthetic_frame

    steer = 0.05 * np.sin(np.arange(n) / 40)
    return np.stack([synthetic_frame(rng, 78, 200, s).transpose(2, 0, 1) for s in steer])


def bench_latency(policy: Policy, frames: np.ndarray, iters: int) -> list[dict]:
    torch.set_num_threads(1)
    naive = NaiveModel(policy).eval()
    rows = []

    def timed(fn) -> float:
        ts = []
        for f in frames[:iters]:
            t = time.perf_counter()
            fn(f)
            ts.append(time.perf_counter() - t)
        return statistics.median(ts[10:]) * 1e3

    hx = [None]

    @torch.inference_mode()
    def naive_step(f):
        x = naive_standardise(f[None, None])  # (1, 1, 3, H, W)
        y, hx[0] = naive(x, hx[0])
        return y

    t_naive = timed(naive_step)
    rows.append(
        {"variant": "naive eager fp32 (NCHW, 8 Linear, ncps cell)", "ms": t_naive, "err": 0.0}
    )

    @torch.inference_mode()
    def policy_step(f):
        return policy.forward(torch.from_numpy(f)[None, None])

    rows.append(
        {"variant": "ours eager fp32 (Policy.forward)", "ms": timed(policy_step), "err": 0.0}
    )
    with torch.no_grad():
        ref, _ = policy(torch.from_numpy(frames)[None])  # (1, N, k): fp32 over the sequence
    ref = ref[0].numpy()
    for prec in ("fp32", "int8", "bf16"):
        actor = FastActor(policy, precision=prec, calibration=frames[::25][:64])
        actor.reset()
        acts = np.stack([actor.step(f) for f in frames])
        err = float(np.abs(acts - ref).max())
        actor.reset()
        rows.append({"variant": f"ours FastActor {prec}", "ms": timed(actor.step), "err": err})
    for r in rows:
        r["speedup"] = t_naive / r["ms"]
    return rows


def _draws(n_frames: int, steps: int, batch: int, window: int, seed: int) -> tuple[list, list]:
    """Window starts and target noise per step, the same for every training variant."""
    rng = np.random.default_rng(seed)
    n = n_frames - window
    starts = [rng.integers(0, n, batch) for _ in range(steps)]
    targets = [
        torch.from_numpy(rng.normal(size=(batch, window, 1)).astype(np.float32))
        for _ in range(steps)
    ]
    return starts, targets


def bench_training(
    policy: Policy,
    frames: np.ndarray,
    steps: int,
    batch: int,
    window: int,
    seed: int,
    bf16: bool = False,
) -> list[dict]:
    torch.set_num_threads(2)
    starts, targets = _draws(len(frames), steps, batch, window, seed)
    # Make targets learnable: a fixed function of the frames' brightness, plus noise.
    rows = []
    ours = copy.deepcopy(policy).train()
    naive = NaiveModel(policy).train()
    results = {}
    variants = [("naive", naive), ("ours", ours)]
    if bf16:
        variants.append(("ours, bf16 autocast", copy.deepcopy(policy).train()))
    for name, model in variants:
        if name != "naive":  # the training path tunes the allocator (after naive has run)
            tune_allocator()
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        amp = name.endswith("bf16 autocast")
        losses, times = [], []
        for s in range(steps):
            win = np.stack([frames[i : i + window] for i in starts[s]])  # (B, T, 3, H, W) uint8
            t0 = time.perf_counter()
            if name == "naive":
                x = naive_standardise(win)
                pred, _ = model(x)
            else:
                with torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp):
                    pred, _ = model.forward_standardised(torch.from_numpy(win))
                pred = pred.float()
            bright = torch.from_numpy(
                win.reshape(batch, window, -1).mean(-1, dtype=np.float32) / 64 - 2
            )[..., None]
            loss = weighted_mse(pred, bright + 0.1 * targets[s], 0.5)
            opt.zero_grad()
            loss.backward()
            opt.step()
            times.append(time.perf_counter() - t0)
            losses.append(float(loss.detach()))
        fps = batch * window / statistics.median(times[1:])
        results[name] = (fps, losses)
    base = results["naive"][0]

    def rel_diff(name: str) -> float:
        return max(
            abs(a - b) / max(abs(a), 1e-9)
            for a, b in zip(results["naive"][1], results[name][1], strict=True)
        )

    for name in results:
        fps, losses = results[name]
        diff = rel_diff(name)
        rows.append(
            {
                "variant": name,
                "fps": fps,
                "speedup": fps / base,
                "first": losses[0],
                "last": losses[-1],
                "max_rel_diff": diff,
            }
        )
    return rows


class _Standardised(nn.Module):
    """``Policy.forward_standardised`` as ``forward`` (what DDP calls)."""

    def __init__(self, policy: Policy) -> None:
        super().__init__()
        self.policy = policy

    def forward(self, frames: torch.Tensor):
        return self.policy.forward_standardised(frames)


def _ddp_worker(
    rank: int,
    world: int,
    port: int,
    policy: Policy,
    frames: np.ndarray,
    starts: list,
    targets: list,
    window: int,
    out: Any,
    bf16: bool = False,
) -> None:
    """One rank of the DDP variant: half of every batch, gradients averaged over gloo."""
    import torch.distributed as dist

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    tune_allocator()  # as lnn_drive.train.bc.build_run does
    dist.init_process_group("gloo", rank=rank, world_size=world)
    model = torch.nn.parallel.DistributedDataParallel(_Standardised(policy.train()))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    losses, times = [], []
    for s, st in enumerate(starts):
        mine = st[rank::world]
        win = np.stack([frames[i : i + window] for i in mine])
        dist.barrier()
        t0 = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            pred, _ = model(torch.from_numpy(win))
        pred = pred.float()
        bright = torch.from_numpy(
            win.reshape(len(mine), window, -1).mean(-1, dtype=np.float32) / 64 - 2
        )[..., None]
        loss = weighted_mse(pred, bright + 0.1 * targets[s][rank::world], 0.5)
        opt.zero_grad()
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - t0)
        t = loss.detach().clone()
        dist.all_reduce(t)
        losses.append(float(t) / world)
    if rank == 0:
        out.put((times, losses))
    dist.barrier()
    dist.destroy_process_group()


def bench_training_ddp(
    policy: Policy,
    frames: np.ndarray,
    steps: int,
    batch: int,
    window: int,
    seed: int,
    bf16: bool = False,
) -> tuple[float, list[float]]:
    """Ours as 2 data-parallel ranks x 1 thread on the same batches (split in halves)."""
    import socket

    import torch.multiprocessing as mp

    starts, targets = _draws(len(frames), steps, batch, window, seed)  # as bench_training
    with socket.socket() as sk:
        sk.bind(("127.0.0.1", 0))
        port = sk.getsockname()[1]
    ctx = mp.get_context("spawn")
    q = ctx.SimpleQueue()
    mp.start_processes(
        _ddp_worker,
        args=(2, port, copy.deepcopy(policy), frames, starts, targets, window, q, bf16),
        nprocs=2,
        start_method="spawn",
    )
    times, losses = q.get()
    return batch * window / statistics.median(times[1:]), losses


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--model", default="ncp_cfc")
    ap.add_argument("--checkpoint", default=None, help="trained policy (default: fresh weights)")
    ap.add_argument(
        "--frames", default=None, help="driving log to take frames from (default: synthetic)"
    )
    ap.add_argument("--latency-steps", type=int, default=1000)
    ap.add_argument("--timed-steps", type=int, default=300)
    ap.add_argument("--train-steps", type=int, default=8)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--window", type=int, default=16)
    ap.add_argument("--skip-train", action="store_true")
    args = ap.parse_args()
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    if args.checkpoint:
        policy = Policy.load(args.checkpoint).eval()
    else:
        cfg = yaml.safe_load((PROJECT_ROOT / "conf" / "model" / f"{args.model}.yaml").read_text())
        policy = Policy(
            model_cfg=cfg, preprocess=Preprocess().with_input(78, 200), output_names=["steering"],
            target_mean=[0.0], target_std=[0.03],
        ).eval()  # fmt: skip
    frames = load_frames(args.frames, args.latency_steps, rng)
    print(
        f"model {policy.model_name}; {'trained ' + Path(args.checkpoint).name if args.checkpoint else 'fresh weights'}; "
        f"frames: {args.frames or 'synthetic'}; torch {torch.__version__}; cpu {torch.backends.cpu.get_cpu_capability()}"
    )
    lat = bench_latency(policy, frames, min(args.timed_steps, len(frames)))
    print(
        f"\n(a) closed-loop step latency, batch 1, 1 thread, 78x200 (median of {args.timed_steps}); "
        f"max |action - fp32 policy| over a {len(frames)}-step sequence (physical units, 1/m)\n"
    )
    print("| variant | ms/step | vs naive | max action diff |\n|---|---:|---:|---:|")
    for r in lat:
        print(f"| {r['variant']} | {r['ms']:.3f} | {r['speedup']:.2f}x | {r['err']:.1e} |")
    if not args.skip_train:
        bf16 = bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())  # native bf16 (AVX-512-bf16/AMX)
        tr = bench_training(policy, frames, args.train_steps, args.batch, args.window, 0, bf16=bf16)
        print(
            f"\n(b) training throughput, 2 threads, batch {args.batch} x {args.window} frames, "
            f"median of {args.train_steps - 1} steps, same init and batches\n"
        )
        print(
            "| variant | frames/s | vs naive | loss first -> last | max rel. loss diff |\n|---|---:|---:|---:|---:|"
        )
        naive = tr[0]
        for amp in (False, True) if bf16 else (False,):
            fps, losses = bench_training_ddp(
                policy, frames, args.train_steps, args.batch, args.window, 0, bf16=amp
            )
            tr.append(
                {
                    "variant": "ours, 2 ranks x 1 thread (DDP, gloo)" + (", bf16" if amp else ""),
                    "fps": fps,
                    "speedup": fps / naive["fps"],
                    "first": losses[0],
                    "last": losses[-1],
                    "max_rel_diff": float("nan"),
                }
            )
        for r in tr:
            print(
                f"| {r['variant']} | {r['fps']:.0f} | {r['speedup']:.2f}x | {r['first']:.4f} -> {r['last']:.4f} | {r['max_rel_diff']:.1e} |"
            )
        print(
            "\n(the DDP row averages per-rank weighted losses of half-batches, so its curve "
            "matches the others within noise rather than exactly)"
        )


if __name__ == "__main__":
    main()
