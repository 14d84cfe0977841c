"""Pictures of saliency: heat-map overlays, model x frame grids, SSIM and attention charts."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import cv2
import numpy as np

from lnn_drive.explain.dynamics import _save

__all__ = [
    "overlay",
    "plot_attention",
    "plot_ssim",
    "saliency_grid",
    "ssim_table",
]


def overlay(frame: np.ndarray, saliency: np.ndarray, *, alpha: float = 0.5) -> np.ndarray:
    """Blend a saliency map over an RGB frame as a heat map (JET: blue low, red high).

    Args:
        frame: (H, W, 3) uint8 RGB, or (3, H, W) uint8 (a preprocessed frame).
        saliency: (h, w) map in [0, 1]; resized to the frame if it differs.
        alpha: Weight of the heat map, scaled by the saliency so cold areas stay visible.

    Returns:
        (H, W, 3) uint8 RGB.
    """
    frame = np.asarray(frame)
    if frame.ndim == 3 and frame.shape[0] == 3 and frame.shape[2] != 3:
        frame = frame.transpose(1, 2, 0)  # (H, W, 3)
    if frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(f"overlay: expected an RGB frame (H, W, 3), got shape {frame.shape}")
    sal = np.clip(np.asarray(saliency, np.float32), 0.0, 1.0)
    h, w = frame.shape[:2]
    if sal.shape != (h, w):
        sal = cv2.resize(sal, (w, h), interpolation=cv2.INTER_LINEAR)
    heat = cv2.applyColorMap((sal * 255).astype(np.uint8), cv2.COLORMAP_JET)[..., ::-1]  # RGB
    a = (alpha * (0.3 + 0.7 * sal))[..., None]
    return (frame.astype(np.float32) * (1 - a) + heat.astype(np.float32) * a).astype(np.uint8)


def saliency_grid(
    frames: np.ndarray,
    maps: Mapping[str, np.ndarray],
    path: str | os.PathLike[str],
    *,
    title: str = "VisualBackProp",
    col_titles: Sequence[str] | None = None,
    views: Mapping[str, np.ndarray] | None = None,
) -> Path:
    """A PNG grid: the frames on the first row, then one row per model with its saliency
    overlaid on the same frames.

    Args:
        frames: (N, H, W, 3) uint8 frames (each model's maps are resized to them).
        maps: model name -> (N, h, w) saliency maps in [0, 1].
        path: Output PNG.
        title: Figure title.
        col_titles: One title per frame.
        views: model name -> (N, h, w, 3) or (N, 3, h, w) frames to draw that model's maps
            on (e.g. its preprocessed view when its preprocessing crops); default ``frames``.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(frames)
    for name, m in maps.items():
        if len(m) != n:
            raise ValueError(f"saliency_grid: {name} has {len(m)} maps for {n} frames")
    h, w = frames.shape[1:3]
    rows = 1 + len(maps)
    fig, axes = plt.subplots(
        rows,
        n,
        figsize=(2.6 * n * w / max(h, w) * 1.2 + 0.8, 1.0 + 2.6 * rows * h / w * 1.3),
        squeeze=False,
    )
    for j in range(n):
        axes[0, j].imshow(frames[j])
        if col_titles is not None:
            axes[0, j].set_title(col_titles[j], fontsize=8)
        for i, (name, m) in enumerate(maps.items(), start=1):
            base = views[name][j] if views and name in views else frames[j]
            axes[i, j].imshow(overlay(base, m[j]))
    for i, name in enumerate(["camera", *maps], start=0):
        axes[i, 0].set_ylabel(name, fontsize=9)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return _save(fig, path)


def ssim_table(results: Mapping[str, Mapping[float, np.ndarray]]) -> str:
    """Markdown table of SSIM(clean, noisy) per model and noise variance: mean +- std."""
    variances = sorted({v for r in results.values() for v in r})
    head = "| model | " + " | ".join(f"var {v:g}" for v in variances) + " | frames |"
    lines = [head, "|---|" + "|".join("---:" for _ in variances) + "|---:|"]
    for name, r in results.items():
        cells = [
            f"{np.mean(r[v]):.3f} ± {np.std(r[v]):.3f}" if v in r else "n/a" for v in variances
        ]
        n = len(next(iter(r.values()))) if r else 0
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {n} |")
    return "\n".join(lines)


def plot_ssim(
    results: Mapping[str, Mapping[float, np.ndarray]], path: str | os.PathLike[str]
) -> Path:
    """Grouped bars: mean SSIM(clean, noisy) per noise variance, one bar per model, with
    the standard deviation over frames as error bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    variances = sorted({v for r in results.values() for v in r})
    x = np.arange(len(variances))
    width = 0.8 / max(len(results), 1)
    fig, ax = plt.subplots(figsize=(1.5 + 1.3 * len(variances) * max(len(results), 1) ** 0.5, 3.6))
    for i, (name, r) in enumerate(results.items()):
        means = [float(np.mean(r[v])) if v in r else np.nan for v in variances]
        stds = [float(np.std(r[v])) if v in r else 0.0 for v in variances]
        ax.bar(
            x + (i - (len(results) - 1) / 2) * width, means, width, yerr=stds, label=name, capsize=2
        )
    ax.set_xticks(x, [f"{v:g}" for v in variances])
    ax.set_xlabel("noise variance")
    ax.set_ylabel("SSIM(clean, noisy) saliency")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8)
    ax.set_title("Attention robustness under input noise", fontsize=10)
    fig.tight_layout()
    return _save(fig, path)


def plot_attention(
    shares: Mapping[str, Mapping[str, float]],
    path: str | os.PathLike[str],
    *,
    title: str = "Share of saliency mass by region",
) -> Path:
    """Grouped bars: per row label (model or model/condition), the mean share per region."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    regions = list(next(iter(shares.values())).keys()) if shares else []
    x = np.arange(len(regions))
    width = 0.8 / max(len(shares), 1)
    fig, ax = plt.subplots(figsize=(2 + 1.2 * len(regions), 3.6))
    for i, (name, s) in enumerate(shares.items()):
        ax.bar(
            x + (i - (len(shares) - 1) / 2) * width,
            [100 * s[r] for r in regions],
            width,
            label=name,
        )
    ax.set_xticks(x, regions)
    ax.set_ylabel("% of saliency mass")
    ax.legend(fontsize=7)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return _save(fig, path)
