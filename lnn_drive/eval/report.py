"""Evaluation outputs: JSON, Markdown tables, bird's-eye plots and camera videos."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from lnn_drive.eval.metrics import DriveMetrics, DriveTrace

#: Columns of metric tables: key, header, format.
METRIC_COLUMNS: list[tuple[str, str, str]] = [
    ("autonomy", "autonomy %", "{:.2%}"),
    ("interventions_per_km", "interv./km", "{:.2f}"),
    ("crashes", "crashes", "{:d}"),
    ("distance_km", "km", "{:.2f}"),
    ("mean_abs_offset", "mean |offset| m", "{:.3f}"),
    ("max_abs_offset", "max |offset| m", "{:.3f}"),
    ("mean_abs_heading_error", "mean |heading| rad", "{:.4f}"),
    ("smoothness", "mean |dκ|/step 1/m", "{:.5f}"),
]


def _fmt(fmt: str, v: Any) -> str:
    if isinstance(v, float) and math.isnan(v):
        return "n/a"
    if fmt == "{:.2%}":
        return f"{100 * v:.2f}"
    return fmt.format(v)


def metrics_table(rows: Mapping[str, DriveMetrics], *, first: str = "condition") -> str:
    """Markdown table, one row per named :class:`DriveMetrics`."""
    head = f"| {first} | " + " | ".join(h for _, h, _ in METRIC_COLUMNS) + " |"
    sep = "|---|" + "|".join("---:" for _ in METRIC_COLUMNS) + "|"
    lines = [head, sep]
    for name, m in rows.items():
        d = m.to_dict(prefix="")
        lines.append(
            f"| {name} | " + " | ".join(_fmt(f, d[k]) for k, _, f in METRIC_COLUMNS) + " |"
        )
    return "\n".join(lines)


def write_json(obj: Any, path: str | os.PathLike[str]) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(obj, indent=2, default=_json_default))
    os.replace(tmp, path)
    return path


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON-serialisable: {type(o).__name__}")


def plot_birdseye(
    traces: Sequence[DriveTrace], path: str | os.PathLike[str], *, max_offset: float = 2.0
) -> Path:
    """Driven paths seen from above, coloured by |lateral offset|; interventions marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.collections import LineCollection

    n = len(traces)
    cols = min(n, 4)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 3.4 * rows), squeeze=False)
    lc = None
    for ax, t in zip(axes.flat, traces, strict=False):
        pts = np.stack([t.x, t.y], axis=1)[:, None, :]  # (N, 1, 2)
        segs = np.concatenate([pts[:-1], pts[1:]], axis=1)  # (N-1, 2, 2)
        lc = LineCollection(segs, cmap="RdYlGn_r", linewidths=1.6)
        lc.set_array(np.abs(t.lateral_offset[1:]))
        lc.set_clim(0, max_offset)
        ax.add_collection(lc)
        for s in t.intervention_steps:
            ax.plot(t.x[s], t.y[s], "kx", ms=7, mew=2)
        ax.set_aspect("equal")
        ax.autoscale()
        ax.set_title(f"road {t.seed} ({t.preset}): {t.interventions} interv.", fontsize=8)
        ax.tick_params(labelsize=6)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    if lc is not None:
        fig.colorbar(lc, ax=axes.ravel().tolist(), shrink=0.8, label="|lateral offset| (m)")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def steering_overlay(
    frame: np.ndarray,
    command: float,
    expert: float | None,
    *,
    scale: int = 3,
    max_curvature: float = 0.1,
) -> np.ndarray:
    """Upscale an RGB frame and draw the commanded (blue) and expert (green) curvature as
    markers on a gauge under it. Returns an RGB uint8 image."""
    h, w = frame.shape[:2]
    big = cv2.resize(frame, (w * scale, h * scale), interpolation=cv2.INTER_NEAREST)
    panel = np.full((34, w * scale, 3), 30, np.uint8)
    cx = w * scale // 2
    cv2.line(panel, (10, 17), (w * scale - 10, 17), (120, 120, 120), 1)
    cv2.line(panel, (cx, 8), (cx, 26), (160, 160, 160), 1)

    def x_of(k: float) -> int:
        # Positive curvature turns left, drawn to the left of centre.
        return int(cx - np.clip(k / max_curvature, -1, 1) * (cx - 12))

    if expert is not None:
        cv2.circle(panel, (x_of(expert), 17), 6, (60, 200, 60), -1)
    cv2.circle(panel, (x_of(command), 17), 4, (70, 130, 255), -1)
    cv2.putText(
        panel, f"cmd {command:+.3f}", (4, 31), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (70, 130, 255), 1
    )
    if expert is not None:
        cv2.putText(
            panel,
            f"expert {expert:+.3f} 1/m",
            (w * scale - 130, 31),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.35,
            (60, 200, 60),
            1,
        )
    return np.concatenate([big, panel], axis=0)


class VideoSink:
    """Write RGB frames to an MP4 (MPEG-4 part 2) atomically: the file appears only when
    :meth:`close` succeeds.

    Args:
        path: Output file.
        fps: Frame rate.
    """

    def __init__(self, path: str | os.PathLike[str], fps: float = 30.0) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = self.path.with_name(f".{self.path.stem}.partial{self.path.suffix}")
        self.fps = fps
        self._writer: cv2.VideoWriter | None = None
        self.frames = 0

    def write(self, rgb: np.ndarray) -> None:
        if self._writer is None:
            h, w = rgb.shape[:2]
            self._writer = cv2.VideoWriter(
                str(self._tmp), cv2.VideoWriter_fourcc(*"mp4v"), self.fps, (w, h)
            )
            if not self._writer.isOpened():
                raise RuntimeError(f"OpenCV cannot write {self._tmp}")
        self._writer.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        self.frames += 1

    def close(self) -> Path:
        if self._writer is None:
            raise RuntimeError(f"{self.path}: no frames written")
        self._writer.release()
        os.replace(self._tmp, self.path)
        return self.path

    def abort(self) -> None:
        if self._writer is not None:
            self._writer.release()
        self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> VideoSink:
        return self

    def __exit__(self, et, ev, tb) -> None:
        if et is None:
            self.close()
        else:
            self.abort()
