"""VisualBackProp cost against one forward pass of the conv encoder, measured in the same run.

    python scripts/bench_saliency.py [--batch 32 --repeats 30 --threads 1]

A batch of 32 standardised frames at 78x200 through the paper's ConvHead (five convs
(24,5,2), (36,5,2), (48,3,2), (64,3,1), (8,3,1), 'same' padding, ReLU). Timed, medians:

* ``forward``: the encoder's plain forward (no grad, no hooks);
* ``visual_backprop``: the whole VisualBackProp call (its own hooked forward + mask);
* ``mask only``: the back-projection from captured channel means (``vbp_from_means``);
* ``input_gradient``: gradient saliency (forward + backward) for comparison.

Bar: the VBP mask (``visual_backprop`` minus ``forward``, and ``mask only``) costs at most
one forward pass.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import torch  # noqa: E402
from torch import nn  # noqa: E402

from lnn_drive.data.preprocess import Preprocess  # noqa: E402
from lnn_drive.explain.saliency import (  # noqa: E402
    capture_conv_means,
    find_conv_layers,
    input_gradient,
    vbp_from_means,
    visual_backprop,
)

H, W = 78, 200
PAPER_CONVS = ((24, 5, 2), (36, 5, 2), (48, 3, 2), (64, 3, 1), (8, 3, 1))


def make_encoder() -> tuple[nn.Module, str]:
    """The project's paper conv head."""
    from lnn_drive.models import ConvHead

    return ConvHead(), "lnn_drive.models.ConvHead"


def interleaved_medians(fns: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Median ms of each function, timed round-robin so load from other processes on a
    shared machine hits all of them alike."""
    for fn in fns.values():
        fn()  # warm-up
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t0)
    return {k: 1000 * statistics.median(v) for k, v in times.items()}


def measure(enc: nn.Module, x: torch.Tensor, repeats: int) -> dict[str, float]:
    convs = find_conv_layers(enc)
    h, w = x.shape[2:]

    def forward() -> None:
        with torch.no_grad():
            enc(x)

    means = capture_conv_means(enc, x, convs)

    def mask_only() -> None:
        with torch.no_grad():
            vbp_from_means(means, convs, (h, w))

    t = interleaved_medians(
        {
            "fwd": forward,
            "vbp": lambda: visual_backprop(enc, x, convs),
            "mask": mask_only,
            "grad": lambda: input_gradient(enc, x),
        },
        repeats,
    )
    t["extra"] = t["vbp"] - t["fwd"]
    return t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    enc, name = make_encoder()
    enc.eval()
    frames = torch.randint(0, 256, (args.batch, 3, H, W), dtype=torch.uint8)
    x = Preprocess.standardise(frames)  # (B, 3, H, W) float
    convs = find_conv_layers(enc)
    geometry = ", ".join(f"({c.out_channels},{c.kernel_size[0]},{c.stride[0]})" for c in convs)
    print(f"encoder: {name} {geometry}; batch {args.batch}x3x{H}x{W}; {args.threads} thread(s)")
    print(f"{args.repeats} round-robin repeats, medians (ms)\n")
    print(
        "| memory layout | forward | visual_backprop | VBP / forward | VBP mask cost "
        "(VBP - forward) | mask only (from captured maps) | mask / forward | input_gradient |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    worst = 0.0
    for layout in ("contiguous", "channels_last"):
        if layout == "channels_last":  # how Policy runs its encoder by default
            enc = enc.to(memory_format=torch.channels_last)
            x = x.contiguous(memory_format=torch.channels_last)
        t = measure(enc, x, args.repeats)
        cost = max(t["extra"], t["mask"])
        worst = max(worst, cost / t["fwd"])
        print(
            f"| {layout} | {t['fwd']:.1f} | {t['vbp']:.1f} | {t['vbp'] / t['fwd']:.2f}x | "
            f"{t['extra']:.1f} | {t['mask']:.1f} | {cost / t['fwd']:.2f}x | {t['grad']:.1f} |"
        )
    print(
        f"\nbar: VBP mask cost <= one forward pass: {'met' if worst <= 1 else 'NOT met'} "
        f"(worst {worst:.2f}x)"
    )


if __name__ == "__main__":
    main()
