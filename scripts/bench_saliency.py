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


class _LocalConvHead(nn.Module):
    """Stand-in with the paper ConvHead's layers, used only if lnn_drive.models lacks one."""

    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c = 3
        for out, k, s in PAPER_CONVS:
            layers += [nn.Conv2d(c, out, k, stride=s, padding=k // 2), nn.ReLU()]
            c = out
        self.net = nn.Sequential(*layers)

    def conv_layers(self) -> list[nn.Conv2d]:
        return [m for m in self.net if isinstance(m, nn.Conv2d)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).flatten(1)


def make_encoder() -> tuple[nn.Module, str]:
    """The project's ConvHead when the models package provides it, else the local copy."""
    try:
        from lnn_drive.models import ConvHead  # type: ignore[attr-defined]

        return ConvHead(), "lnn_drive.models.ConvHead"
    except (ImportError, TypeError):
        return _LocalConvHead(), "local ConvHead (paper layers)"


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

    def forward() -> None:
        with torch.no_grad():
            enc(x)

    means = capture_conv_means(enc, x, convs)

    def mask_only() -> None:
        with torch.no_grad():
            vbp_from_means(means, convs, (H, W))

    t = interleaved_medians(
        {
            "fwd": forward,
            "vbp": lambda: visual_backprop(enc, x, convs),
            "mask": mask_only,
            "grad": lambda: input_gradient(enc, x),
        },
        args.repeats,
    )
    t_fwd, t_vbp, t_mask, t_grad = t["fwd"], t["vbp"], t["mask"], t["grad"]
    extra = t_vbp - t_fwd

    print(f"encoder: {name} {geometry}; batch {args.batch}x3x{H}x{W}; {args.threads} thread(s)")
    print(f"{args.repeats} round-robin repeats, medians\n")
    print("| measurement | median ms | vs one forward |")
    print("|---|---:|---:|")
    rows = [
        ("encoder forward (no grad)", t_fwd),
        ("visual_backprop (hooked forward + mask)", t_vbp),
        ("VBP mask cost (visual_backprop - forward)", extra),
        ("VBP mask only (from captured maps)", t_mask),
        ("input_gradient (forward + backward)", t_grad),
    ]
    for label, t in rows:
        print(f"| {label} | {t:.2f} | {t / t_fwd:.2f}x |")
    ok = max(extra, t_mask) <= t_fwd
    print(
        f"\nbar: VBP mask cost <= one forward pass: {'met' if ok else 'NOT met'} "
        f"({max(extra, t_mask) / t_fwd:.2f}x)"
    )


if __name__ == "__main__":
    main()
