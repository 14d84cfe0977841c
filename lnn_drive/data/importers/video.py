"""Import a video file plus a CSV of timestamped controls, aligned by time.

The CSV has a time column and one column per control. Frame ``i`` is taken at time
``video_start + i / fps`` on the CSV's clock (``fps`` from the container unless given).
Each frame gets the controls at its time, either from the nearest row (which must be
within ``max_gap_s``) or interpolated linearly between the rows around it (which must be
at most ``max_gap_s`` apart). Frames outside the CSV's time range are trimmed from the
ends (and reported) or, with ``out_of_range: error``, rejected.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from lnn_drive.data.importers.common import ImportSummary, check_label, parse_float
from lnn_drive.data.log import (
    STANDARD_UNITS,
    LogFormatError,
    LogWriter,
    check_destination,
    read_csv_rows,
)
from lnn_drive.data.units import STEERING_UNITS, speed_to_mps, steering_to_curvature

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class VideoImportConfig:
    """Options of :func:`import_video`.

    Attributes:
        video: Video file (anything OpenCV/FFmpeg decodes).
        controls: CSV with a header.
        out: Output dataset folder.
        time_column: CSV column holding time.
        time_scale: Multiplier taking the CSV's time to seconds (1e-3 for ms).
        video_start: Time (s, CSV clock) of the first frame.
        fps: Frame rate; ``None`` reads it from the container.
        align: ``nearest`` or ``linear``.
        max_gap_s: Largest allowed distance to the nearest row, or between the two rows
            interpolated.
        columns: Output signal -> CSV column. Known signals get their standard units.
        steering_unit: Unit of the steering column (see ``lnn_drive.data.units``).
        max_steer_deg, wheelbase_m, steering_sign: Steering conversion.
        speed_unit: Unit of the speed column.
        out_of_range: ``trim`` frames outside the CSV's time range, or ``error``.
        encoding: Frame container of the output.
        overwrite: Replace an existing output dataset.
    """

    video: str
    controls: str
    out: str
    time_column: str = "timestamp"
    time_scale: float = 1.0
    video_start: float = 0.0
    fps: float | None = None
    align: str = "linear"
    max_gap_s: float = 0.25
    columns: dict[str, str] = field(
        default_factory=lambda: {"steering": "steering", "speed": "speed"}
    )
    steering_unit: str = "curvature"
    max_steer_deg: float = 25.0
    wheelbase_m: float = 2.7
    steering_sign: float = 1.0
    speed_unit: str = "m/s"
    out_of_range: str = "trim"
    encoding: str = "ffv1"
    overwrite: bool = False

    def __post_init__(self) -> None:
        if self.align not in ("nearest", "linear"):
            raise ValueError(f"align must be 'nearest' or 'linear', got {self.align!r}")
        if self.out_of_range not in ("trim", "error"):
            raise ValueError(f"out_of_range must be 'trim' or 'error', got {self.out_of_range!r}")
        if self.fps is not None and self.fps <= 0:
            raise ValueError(f"fps must be positive, got {self.fps}")
        if self.max_gap_s <= 0 or self.time_scale <= 0:
            raise ValueError("max_gap_s and time_scale must be positive")
        if not self.columns:
            raise ValueError("columns: map at least one output signal to a CSV column")
        if self.steering_unit not in STEERING_UNITS:
            raise ValueError(
                f"steering_unit must be one of {STEERING_UNITS}, got {self.steering_unit!r}"
            )
        speed_to_mps(0.0, unit=self.speed_unit)


def read_controls(
    path: Path,
    time_column: str,
    columns: dict[str, str],
    time_scale: float,
    *,
    steering_unit: str = "curvature",
) -> dict[str, np.ndarray]:
    """Read the controls CSV strictly (numbers, increasing time, label ranges for the
    ``steering_unit`` given). Returns output signal -> values plus ``time`` (s)."""
    rows = read_csv_rows(path)
    header, body = (rows[0], rows[1:]) if rows else (None, [])
    if header is None:
        raise LogFormatError(f"{path}: empty CSV")
    header = [h.strip() for h in header]
    need = [time_column, *columns.values()]
    missing = [c for c in need if c not in header]
    if missing:
        raise LogFormatError(f"{path}: missing columns {missing} (header: {header})")
    idx = {c: header.index(c) for c in need}
    out: dict[str, list[float]] = {"time": [], **{s: [] for s in columns}}
    for r, row in enumerate(body):
        line = r + 2
        if not any(c.strip() for c in row):
            continue
        where = f"{path}, line {line}"
        if len(row) < len(header):
            raise LogFormatError(f"{where}: {len(row)} fields, header has {len(header)}")
        t = parse_float(row[idx[time_column]], where=where, column=time_column) * time_scale
        if out["time"] and t <= out["time"][-1]:
            raise LogFormatError(
                f"{where}: time {t} s does not increase (previous {out['time'][-1]} s)"
            )
        out["time"].append(t)
        for s, c in columns.items():
            v = parse_float(row[idx[c]], where=where, column=c)
            check_label(s, v, where=f"{where}, column {c}", steering_unit=steering_unit)
            out[s].append(v)
    if len(out["time"]) < 2:
        raise LogFormatError(
            f"{path}: needs at least 2 data rows to align against, has {len(out['time'])}"
        )
    return {k: np.asarray(v, np.float64) for k, v in out.items()}


def align_controls(
    frame_t: np.ndarray,
    ctrl: dict[str, np.ndarray],
    *,
    align: str,
    max_gap_s: float,
    where: str,
    first_frame: int = 0,
) -> dict[str, np.ndarray]:
    """Controls at each frame time (all frames inside the CSV's time range); frame
    ``k`` of ``frame_t`` is called frame ``first_frame + k`` in errors.

    Raises:
        LogFormatError: a frame farther than ``max_gap_s`` from usable rows, naming it.
    """
    t = ctrl["time"]
    hi = np.clip(np.searchsorted(t, frame_t), 1, len(t) - 1)
    lo = hi - 1
    out = {}
    if align == "nearest":
        nearest = np.where(np.abs(t[lo] - frame_t) <= np.abs(t[hi] - frame_t), lo, hi)
        gap = np.abs(t[nearest] - frame_t)
        bad = np.flatnonzero(gap > max_gap_s)
        if bad.size:
            i = bad[0]
            raise LogFormatError(
                f"{where}: frame {first_frame + i} at {frame_t[i]:.3f} s is {gap[i]:.3f} s from the nearest control row "
                f"(max_gap_s={max_gap_s}); {bad.size} frame(s) affected"
            )
        for k, v in ctrl.items():
            if k != "time":
                out[k] = v[nearest]
    else:
        span = t[hi] - t[lo]
        bad = np.flatnonzero(span > max_gap_s)
        if bad.size:
            i = bad[0]
            raise LogFormatError(
                f"{where}: frame {first_frame + i} at {frame_t[i]:.3f} s falls in a {span[i]:.3f} s gap between control rows "
                f"(max_gap_s={max_gap_s}); {bad.size} frame(s) affected"
            )
        for k, v in ctrl.items():
            if k != "time":
                out[k] = np.interp(frame_t, t, v)
    return out


def import_video(cfg: VideoImportConfig) -> ImportSummary:
    """Convert a video plus controls CSV into a one-episode dataset at ``cfg.out``.

    A video that cannot be opened, decodes no frames or fewer than its container
    declares (truncated), a bad CSV, or an alignment gap raises
    :class:`LogFormatError`; nothing appears at ``cfg.out`` then.
    """
    video = Path(cfg.video).expanduser()
    csv_path = Path(cfg.controls).expanduser()
    if not video.is_file():
        raise LogFormatError(f"{video}: video not found")
    inputs = [video, csv_path]
    check_destination(cfg.out, overwrite=cfg.overwrite, inputs=inputs)
    ctrl = read_controls(
        csv_path,
        cfg.time_column,
        dict(cfg.columns),
        cfg.time_scale,
        steering_unit=cfg.steering_unit,
    )
    if "steering" in ctrl:
        ctrl["steering"] = steering_to_curvature(
            ctrl["steering"],
            unit=cfg.steering_unit,
            max_steer_deg=cfg.max_steer_deg,
            wheelbase_m=cfg.wheelbase_m,
            sign=cfg.steering_sign,
        )
    if "speed" in ctrl:
        ctrl["speed"] = speed_to_mps(ctrl["speed"], unit=cfg.speed_unit)

    cap = cv2.VideoCapture(str(video))
    try:
        if not cap.isOpened():
            raise LogFormatError(
                f"{video}: cannot open video (corrupt, truncated or unsupported codec?)"
            )
        fps = cfg.fps or float(cap.get(cv2.CAP_PROP_FPS))
        if not fps or not np.isfinite(fps) or fps <= 0:
            raise LogFormatError(f"{video}: the container declares no frame rate; pass fps=...")
        declared = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        w = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH))
        h = int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        t0, t1 = ctrl["time"][0], ctrl["time"][-1]
        units = {s: STANDARD_UNITS.get(s, "unknown") for s in cfg.columns}
        n_in = n_before = n_after = 0
        with (
            LogWriter(
                cfg.out,
                height=h,
                width=w,
                fps=fps,
                signals=units,
                source=f"video:{video.resolve()}",
                encoding=cfg.encoding,
                overwrite=cfg.overwrite,
                inputs=inputs,
                extra={
                    "controls": str(csv_path.resolve()),
                    "align": cfg.align,
                    "video_start": cfg.video_start,
                },
            ) as writer,
            writer.episode(meta={"video": video.name}) as ep,
            tqdm(total=declared or None, desc="import-video", unit="frame") as bar,
        ):
            i = 0
            while True:
                ok, bgr = cap.read()
                if not ok:
                    break
                ft = cfg.video_start + i / fps
                i += 1
                bar.update()
                if ft < t0 or ft > t1:
                    if cfg.out_of_range == "error":
                        raise LogFormatError(
                            f"{video}: frame {i - 1} at {ft:.3f} s is outside the controls' time range "
                            f"[{t0:.3f}, {t1:.3f}] s of {csv_path}"
                        )
                    if ft < t0:
                        n_before += 1
                    else:
                        n_after += 1
                    continue
                if bgr.shape[:2] != (h, w):
                    raise LogFormatError(
                        f"{video}, frame {i - 1}: size {bgr.shape[1]}x{bgr.shape[0]} != {w}x{h}"
                    )
                vals = align_controls(
                    np.array([ft]),
                    ctrl,
                    align=cfg.align,
                    max_gap_s=cfg.max_gap_s,
                    where=f"{video} vs {csv_path}",
                    first_frame=i - 1,
                )
                ep.append(
                    cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB),
                    timestamp=ft,
                    **{k: float(v[0]) for k, v in vals.items()},
                )
                n_in += 1
            if i == 0:
                raise LogFormatError(
                    f"{video}: no frames could be decoded (corrupt or truncated video?)"
                )
            if declared > 0 and i < declared - 1:
                raise LogFormatError(
                    f"{video}: decoded {i} frames but the container declares {declared} (truncated or corrupt video?)"
                )
            if n_in == 0:
                raise LogFormatError(
                    f"{video}: no frame falls inside the controls' time range [{t0:.3f}, {t1:.3f}] s; "
                    "check video_start and time_scale"
                )
    finally:
        cap.release()
    notes = []
    if n_before or n_after:
        notes.append(
            f"trimmed {n_before} frame(s) before and {n_after} after the controls' time range "
            f"[{t0:.3f}, {t1:.3f}] s"
        )
        log.warning("%s", notes[-1])
    return ImportSummary(out=Path(cfg.out).absolute(), episodes=1, frames=n_in, notes=notes)
