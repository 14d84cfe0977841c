"""Summaries of a dataset: episodes, duration, frames, signal ranges and histograms."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from lnn_drive.data.log import DrivingLog


def summarize(
    root: str | os.PathLike[str], *, decode: bool = False, bins: int = 10
) -> dict[str, Any]:
    """Read (and with ``decode`` fully validate) a dataset and summarise it.

    Returns:
        A JSON-serialisable dict: metadata, per-episode rows, per-signal min/max/mean/std
        and histogram (``edges``, ``counts``).
    """
    dlog = DrivingLog(root)
    dlog.validate(decode=decode)
    columns: dict[str, list[np.ndarray]] = {n: [] for n in dlog.meta.signal_names}
    episodes = []
    for ep in dlog.episodes:
        sig = dlog.signals(ep)
        for n in columns:
            columns[n].append(sig[n])
        episodes.append(
            {
                "name": ep.name,
                "frames": ep.num_frames,
                "duration_s": round(ep.duration_s, 3),
                **ep.meta,
            }
        )
    signals = {}
    for n, parts in columns.items():
        v = np.concatenate(parts)
        counts, edges = np.histogram(v, bins=bins)
        signals[n] = {
            "unit": dlog.meta.signals[n],
            "min": float(v.min()),
            "max": float(v.max()),
            "mean": float(v.mean()),
            "std": float(v.std()),
            "hist": {"edges": edges.tolist(), "counts": counts.tolist()},
        }
    return {
        "root": str(dlog.root),
        "source": dlog.meta.source,
        "camera": f"{dlog.meta.height}x{dlog.meta.width}",
        "fps": dlog.meta.fps,
        "encoding": dlog.meta.encoding,
        "episodes": len(dlog.episodes),
        "frames": dlog.num_frames,
        "duration_s": round(sum(e.duration_s for e in dlog.episodes), 3),
        "validated_frames": decode,
        "episode_table": episodes,
        "signals": signals,
    }


def format_summary(s: dict[str, Any], *, max_episodes: int = 20) -> str:
    """Render :func:`summarize`'s output as plain text."""
    out = [
        f"dataset   {s['root']}",
        f"source    {s['source']}",
        f"camera    {s['camera']} @ {s['fps']:g} fps, {s['encoding']}",
        f"episodes  {s['episodes']}   frames {s['frames']}   duration {s['duration_s']:.1f} s"
        + ("   (all frames decoded and checked)" if s["validated_frames"] else ""),
        "",
        f"{'episode':<10} {'frames':>7} {'duration_s':>10}  meta",
    ]
    for e in s["episode_table"][:max_episodes]:
        meta = {k: v for k, v in e.items() if k not in ("name", "frames", "duration_s")}
        out.append(
            f"{e['name']:<10} {e['frames']:>7} {e['duration_s']:>10.2f}  {meta if meta else ''}"
        )
    if len(s["episode_table"]) > max_episodes:
        out.append(f"... {len(s['episode_table']) - max_episodes} more")
    out += [
        "",
        f"{'signal':<10} {'unit':<6} {'min':>10} {'max':>10} {'mean':>10} {'std':>10}  histogram",
    ]
    for n, d in s["signals"].items():
        counts = np.asarray(d["hist"]["counts"], float)
        bars = "".join(
            " .:-=+*#%@"[int(round(c / counts.max() * 9))] if counts.max() else " " for c in counts
        )
        out.append(
            f"{n:<10} {d['unit']:<6} {d['min']:>10.4g} {d['max']:>10.4g} {d['mean']:>10.4g} {d['std']:>10.4g}  |{bars}|"
        )
    return "\n".join(out)


def write_histograms(s: dict[str, Any], path: str | os.PathLike[str]) -> Path:
    """Plot each signal's histogram into one PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(s["signals"])
    fig, axes = plt.subplots(1, len(names), figsize=(3.2 * len(names), 2.6), squeeze=False)
    for ax, n in zip(axes[0], names, strict=True):
        d = s["signals"][n]
        edges = np.asarray(d["hist"]["edges"])
        ax.bar(edges[:-1], d["hist"]["counts"], width=np.diff(edges), align="edge", color="#3a7")
        ax.set_title(f"{n} [{d['unit']}]", fontsize=9)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
