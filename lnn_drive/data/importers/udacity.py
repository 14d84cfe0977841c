"""Import logs of the Udacity self-driving-car simulator (``driving_log.csv`` + ``IMG/``).

Rows are ``center,left,right,steering,throttle,brake,speed`` with or without a header.
Steering is normalised to [-1, 1] of the maximum wheel angle, positive to the right;
speed is in mph. Frame timestamps come from the image names
(``center_2016_12_01_13_30_48_287.jpg``) or, when they carry none, from ``fps``. A pause
longer than ``split_gap_s`` starts a new episode. With side cameras, each camera of a
segment becomes its own episode (same ``group``, so the split keeps them together), its
steering label corrected by ``side_correction``.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from lnn_drive.data.importers.common import (
    ImportSummary,
    check_label,
    decode_image,
    parse_float,
    read_image_bytes,
    resolve_frame_path,
)
from lnn_drive.data.log import LogFormatError, LogWriter, check_destination, read_csv_rows
from lnn_drive.data.units import speed_to_mps, steering_to_curvature

log = logging.getLogger(__name__)

COLUMNS = ("center", "left", "right", "steering", "throttle", "brake", "speed")
CAMERAS = ("center", "left", "right")
_STAMP = re.compile(r"(\d{4})_(\d{2})_(\d{2})_(\d{2})_(\d{2})_(\d{2})_(\d{3})")


@dataclass(frozen=True, kw_only=True)
class UdacityImportConfig:
    """Options of :func:`import_udacity`.

    Attributes:
        log_dir: Folder holding the CSV and the images.
        out: Output dataset folder (must not exist unless ``overwrite``).
        csv_name: CSV file name inside ``log_dir``.
        cameras: Cameras to import, any of center/left/right.
        side_correction: Normalised steering added to the left camera's label and
            subtracted from the right camera's (0.2 is the usual choice).
        max_steer_deg: Wheel angle at normalised steering 1 (Udacity simulator: 25).
        wheelbase_m: For the curvature conversion.
        steering_sign: -1 because Udacity's positive steering turns right.
        speed_unit: ``mph`` (Udacity), ``km/h`` or ``m/s``.
        fps: Frame rate used when image names carry no timestamp.
        split_gap_s: A pause longer than this starts a new episode.
        encoding: Frame container of the output.
        overwrite: Replace an existing output dataset.
    """

    log_dir: str
    out: str
    csv_name: str = "driving_log.csv"
    cameras: list[str] = field(default_factory=lambda: ["center"])
    side_correction: float = 0.2
    max_steer_deg: float = 25.0
    wheelbase_m: float = 2.7
    steering_sign: float = -1.0
    speed_unit: str = "mph"
    fps: float = 15.0
    split_gap_s: float = 1.0
    encoding: str = "ffv1"
    overwrite: bool = False

    def __post_init__(self) -> None:
        if isinstance(self.cameras, str):
            raise ValueError(f"cameras must be a list, e.g. cameras=[{self.cameras}], not a string")
        bad = [c for c in self.cameras if c not in CAMERAS]
        if bad or not self.cameras:
            raise ValueError(
                f"cameras: {list(self.cameras)} must be a non-empty subset of {list(CAMERAS)}"
            )
        if self.fps <= 0:
            raise ValueError(f"fps must be positive, got {self.fps}")
        if self.split_gap_s <= 0:
            raise ValueError(f"split_gap_s must be positive, got {self.split_gap_s}")
        # Fail on bad conversion settings before reading anything.
        steering_to_curvature(
            0.0,
            unit="normalized",
            max_steer_deg=self.max_steer_deg,
            wheelbase_m=self.wheelbase_m,
            sign=self.steering_sign,
        )
        speed_to_mps(0.0, unit=self.speed_unit)


@dataclass(frozen=True)
class _Row:
    line: int
    paths: dict[str, str]
    steering: float
    throttle: float
    brake: float
    speed: float
    stamp: float | None


def _stamp_from_name(path: str) -> float | None:
    m = _STAMP.search(path.replace("\\", "/").rsplit("/", 1)[-1])
    if m is None:
        return None
    y, mo, d, h, mi, s, ms = (int(g) for g in m.groups())
    try:
        return datetime(y, mo, d, h, mi, s, ms * 1000).timestamp()
    except ValueError:
        return None


def read_udacity_csv(path: Path) -> list[_Row]:
    """Parse and check every row (numbers, label ranges); raises :class:`LogFormatError`
    naming file and line."""
    lines = read_csv_rows(path)
    lines = [(i + 1, r) for i, r in enumerate(lines) if any(c.strip() for c in r)]
    if not lines:
        raise LogFormatError(f"{path}: empty CSV")
    first = [c.strip().lower() for c in lines[0][1]]
    if "steering" in first or "center" in first:
        missing = [c for c in COLUMNS if c not in first]
        if missing:
            raise LogFormatError(
                f"{path}, line {lines[0][0]}: header lacks columns {missing} (has {first})"
            )
        col = {c: first.index(c) for c in COLUMNS}
        body = lines[1:]
    else:
        col = {c: i for i, c in enumerate(COLUMNS)}
        body = lines
    width = max(col.values()) + 1
    rows = []
    for line, r in body:
        where = f"{path}, line {line}"
        if len(r) < width:
            raise LogFormatError(
                f"{where}: {len(r)} columns, expected {width} ({', '.join(COLUMNS)})"
            )
        vals = {
            c: parse_float(r[col[c]], where=where, column=c)
            for c in ("steering", "throttle", "brake", "speed")
        }
        for c, v in vals.items():
            check_label(c, v, where=where, steering_unit="normalized")
        paths = {c: r[col[c]].strip() for c in CAMERAS}
        rows.append(_Row(line=line, paths=paths, stamp=_stamp_from_name(paths["center"]), **vals))
    if not rows:
        raise LogFormatError(f"{path}: header but no data rows")
    return rows


def _segments(
    rows: list[_Row], cfg: UdacityImportConfig, csv_path: Path
) -> tuple[np.ndarray, list[slice]]:
    if all(r.stamp is not None for r in rows):
        t = np.array([r.stamp for r in rows])
        t = t - t[0]
        for i in range(1, len(rows)):
            if t[i] <= t[i - 1]:
                raise LogFormatError(
                    f"{csv_path}, line {rows[i].line}: image timestamp does not increase "
                    f"({rows[i].paths['center']} after {rows[i - 1].paths['center']})"
                )
    else:
        t = np.arange(len(rows)) / cfg.fps
    cuts = [0, *(np.flatnonzero(np.diff(t) > cfg.split_gap_s) + 1).tolist(), len(rows)]
    return t, [slice(a, b) for a, b in zip(cuts[:-1], cuts[1:], strict=True)]


def import_udacity(cfg: UdacityImportConfig) -> ImportSummary:
    """Convert a Udacity simulator log into a dataset at ``cfg.out``.

    Everything is checked before anything is kept: a bad row, a missing or unreadable
    image, or a path outside ``log_dir`` raises :class:`LogFormatError` naming the file
    and line, and nothing appears at ``cfg.out``.
    """
    log_dir = Path(cfg.log_dir).expanduser()
    csv_path = log_dir / cfg.csv_name
    if not csv_path.is_file():
        raise LogFormatError(f"{csv_path}: not found")
    inputs = [log_dir, csv_path]
    check_destination(cfg.out, overwrite=cfg.overwrite, inputs=inputs)
    rows = read_udacity_csv(csv_path)
    paths = {
        (i, cam): resolve_frame_path(
            r.paths[cam], log_dir, where=f"{csv_path}, line {r.line}, {cam}"
        )
        for i, r in enumerate(rows)
        for cam in cfg.cameras
    }
    for (i, cam), p in paths.items():  # fail on a truncated image before any work starts
        read_image_bytes(p, where=f"{csv_path}, line {rows[i].line}, {cam}")
    t, segments = _segments(rows, cfg, csv_path)
    probe = decode_image(paths[(0, cfg.cameras[0])], where=f"{csv_path}, line {rows[0].line}")
    h, w = probe.shape[:2]
    steer_norm = np.array([r.steering for r in rows])
    speed = speed_to_mps(np.array([r.speed for r in rows]), unit=cfg.speed_unit)
    offsets = {"center": 0.0, "left": cfg.side_correction, "right": -cfg.side_correction}
    # Udacity's positive steering is to the right, so the left camera (which sees the car
    # as if it were further left) needs more right steering: +correction in its units.
    notes = [f"{len(segments)} segment(s) split at pauses > {cfg.split_gap_s} s"]
    fps = (
        float(1.0 / np.median(np.diff(t))) if len(t) > 1 and np.median(np.diff(t)) > 0 else cfg.fps
    )
    frames = 0
    writer = LogWriter(
        cfg.out,
        height=h,
        width=w,
        fps=fps,
        signals={"steering": "1/m", "speed": "m/s", "throttle": "1", "brake": "1"},
        source=f"udacity:{csv_path.resolve()}",
        encoding=cfg.encoding,
        overwrite=cfg.overwrite,
        inputs=inputs,
        extra={
            "steering_conversion": {
                "from": "normalized",
                "max_steer_deg": cfg.max_steer_deg,
                "wheelbase_m": cfg.wheelbase_m,
                "sign": cfg.steering_sign,
            },
            "cameras": list(cfg.cameras),
            "side_correction": cfg.side_correction,
        },
    )
    bar = tqdm(total=len(rows) * len(cfg.cameras), desc="import-udacity", unit="frame")
    with writer, bar:
        for k, seg in enumerate(segments):
            for cam in cfg.cameras:
                kappa = steering_to_curvature(
                    steer_norm[seg] + offsets[cam],
                    unit="normalized",
                    max_steer_deg=cfg.max_steer_deg,
                    wheelbase_m=cfg.wheelbase_m,
                    sign=cfg.steering_sign,
                )
                meta = {
                    "camera": cam,
                    "group": f"segment_{k:04d}",
                    "csv_lines": [rows[seg.start].line, rows[seg.stop - 1].line],
                }
                with writer.episode(meta=meta) as ep:
                    for j, i in enumerate(range(seg.start, seg.stop)):
                        p = paths[(i, cam)]
                        where = f"{csv_path}, line {rows[i].line}"
                        bgr = decode_image(p, where=where)
                        if bgr.shape[:2] != (h, w):
                            raise LogFormatError(
                                f"{p}: image is {bgr.shape[1]}x{bgr.shape[0]}, others are {w}x{h} ({where})"
                            )
                        ep.append(
                            cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB),
                            timestamp=float(t[i]),
                            steering=float(kappa[j]),
                            speed=float(speed[i]),
                            throttle=rows[i].throttle,
                            brake=rows[i].brake,
                        )
                        bar.update()
                frames += seg.stop - seg.start
    n_eps = len(segments) * len(cfg.cameras)
    log.info("imported %d frames in %d episodes to %s", frames, n_eps, cfg.out)
    return ImportSummary(out=Path(cfg.out).absolute(), episodes=n_eps, frames=frames, notes=notes)
