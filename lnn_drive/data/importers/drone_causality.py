"""Import drone flight logs in the style of drone_causality (Chahine et al. 2023).

A flight is a folder of numbered images (``000000.png``, ``000001.png``, ... or ``1.jpg``,
``2.jpg``, ...; PNG or JPEG) and a CSV with a header and one row per image, in image
order, holding the body-frame commands ``vx, vy, vz`` (m/s) and ``omega_z`` (rad/s) (the
columns of drone_causality's processed ``data_out.csv``). ``log_dir`` is either one flight
or a folder whose sub-folders are flights (each becomes one episode, in name order).
Frames are ``1 / fps`` s apart (the CSV has no clock the importer relies on).

Everything is checked before anything is kept: a missing column, a non-numeric or
non-finite cell, an empty CSV, a gap in the image numbering, a frame/row count mismatch,
an image that does not decode (truncated) or whose size differs raises
:class:`~lnn_drive.data.log.LogFormatError` naming the file (and line or frame), and
nothing appears at ``out``.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from lnn_drive.data.importers.common import ImportSummary, parse_float
from lnn_drive.data.log import STANDARD_UNITS, LogFormatError, LogWriter

_NUMBERED = re.compile(r"^(\d+)\.(png|jpe?g)$", re.IGNORECASE)
#: The log's flight signals; their standard units are m/s and rad/s.
FLIGHT_SIGNALS = ("vx", "vy", "vz", "yaw_rate")


@dataclass(frozen=True, kw_only=True)
class DroneImportConfig:
    """Options of :func:`import_drone_causality`.

    Attributes:
        log_dir: One flight folder, or a folder of flight folders.
        out: Output dataset folder (must not exist unless ``overwrite``).
        csv_name: CSV file name inside each flight folder.
        columns: Output signal -> CSV column; the outputs must be ``vx, vy, vz,
            yaw_rate`` (any subset of at least one), stored in m/s and rad/s.
        fps: Frame rate of the recording (Hz).
        height, width: Resize every frame to this size (both or neither); ``None`` keeps
            the images' own size (which must then be the same for all flights).
        encoding: Frame container of the output.
        overwrite: Replace an existing output dataset.
    """

    log_dir: str
    out: str
    csv_name: str = "data_out.csv"
    columns: dict[str, str] = field(
        default_factory=lambda: {"vx": "vx", "vy": "vy", "vz": "vz", "yaw_rate": "omega_z"}
    )
    fps: float = 10.0
    height: int | None = None
    width: int | None = None
    encoding: str = "ffv1"
    overwrite: bool = False

    def __post_init__(self) -> None:
        if not self.columns:
            raise ValueError("columns: map at least one of vx, vy, vz, yaw_rate to a CSV column")
        bad = sorted(set(self.columns) - set(FLIGHT_SIGNALS))
        if bad:
            raise ValueError(
                f"columns: unknown output signal(s) {bad}; valid: {', '.join(FLIGHT_SIGNALS)}"
            )
        if not (isinstance(self.fps, int | float) and 0 < self.fps <= 1000):
            raise ValueError(f"fps must be in (0, 1000] Hz, got {self.fps!r}")
        if (self.height is None) != (self.width is None):
            raise ValueError("height and width: give both (to resize) or neither")
        for name in ("height", "width"):
            v = getattr(self, name)
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 8):
                raise ValueError(f"{name} must be an integer >= 8 or null, got {v!r}")


@dataclass(frozen=True, kw_only=True)
class Flight:
    """One flight, checked.

    Attributes:
        folder: The flight folder.
        images: Image paths in frame order.
        signals: Output signal -> values (N,), aligned with ``images``.
    """

    folder: Path
    images: list[Path]
    signals: dict[str, np.ndarray]


def find_flights(log_dir: Path, csv_name: str) -> list[Path]:
    """``log_dir`` itself if it holds ``csv_name``, else its sub-folders that do."""
    if not log_dir.is_dir():
        raise LogFormatError(f"{log_dir}: not a folder")
    if (log_dir / csv_name).is_file():
        return [log_dir]
    flights = sorted(p for p in log_dir.iterdir() if p.is_dir() and (p / csv_name).is_file())
    if not flights:
        raise LogFormatError(
            f"{log_dir}: no {csv_name} in it or in any of its sub-folders (csv_name=...?)"
        )
    return flights


def numbered_images(folder: Path) -> list[Path]:
    """The folder's numbered images in order; a gap in the numbering is an error."""
    found: dict[int, Path] = {}
    for p in folder.iterdir():
        m = _NUMBERED.match(p.name)
        if m is None or not p.is_file():
            continue
        k = int(m.group(1))
        if k in found:
            raise LogFormatError(f"{folder}: two images numbered {k} ({found[k].name}, {p.name})")
        found[k] = p
    if not found:
        raise LogFormatError(f"{folder}: no numbered images (000000.png, 000001.png, ...)")
    keys = sorted(found)
    for a, b in zip(keys[:-1], keys[1:], strict=True):
        if b != a + 1:
            raise LogFormatError(
                f"{folder}: image {a + 1} is missing (numbering jumps from {found[a].name} to {found[b].name})"
            )
    return [found[k] for k in keys]


def read_flight_csv(path: Path, columns: dict[str, str]) -> dict[str, np.ndarray]:
    """Output signal -> values from ``path``, strictly (errors name the file and line)."""
    try:
        with open(path, newline="") as f:
            lines = [(i + 1, r) for i, r in enumerate(csv.reader(f)) if any(c.strip() for c in r)]
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise LogFormatError(f"{path}: cannot read ({e})") from e
    if not lines:
        raise LogFormatError(f"{path}: empty CSV")
    header = [c.strip() for c in lines[0][1]]
    missing = [c for c in columns.values() if c not in header]
    if missing:
        raise LogFormatError(
            f"{path}, line {lines[0][0]}: missing column(s) {missing} (header: {header})"
        )
    idx = {s: header.index(c) for s, c in columns.items()}
    out: dict[str, list[float]] = {s: [] for s in columns}
    for line, row in lines[1:]:
        where = f"{path}, line {line}"
        if len(row) < len(header):
            raise LogFormatError(f"{where}: {len(row)} fields, the header has {len(header)}")
        for s, c in columns.items():
            out[s].append(parse_float(row[idx[s]], where=where, column=c))
    if not lines[1:]:
        raise LogFormatError(f"{path}: a header but no data rows")
    return {s: np.asarray(v, np.float64) for s, v in out.items()}


def check_flight(folder: Path, cfg: DroneImportConfig) -> Flight:
    """Read and check one flight (CSV rows against images); nothing is decoded yet."""
    csv_path = folder / cfg.csv_name
    signals = read_flight_csv(csv_path, dict(cfg.columns))
    images = numbered_images(folder)
    rows = len(next(iter(signals.values())))
    if rows != len(images):
        raise LogFormatError(
            f"{csv_path}: {rows} data rows but {folder} holds {len(images)} numbered images "
            f"({images[0].name} .. {images[-1].name}); they must match one to one"
        )
    return Flight(folder=folder, images=images, signals=signals)


def _decode(path: Path, where: str) -> np.ndarray:
    data = np.fromfile(path, np.uint8)
    bgr = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if bgr is None:
        raise LogFormatError(f"{path}: cannot decode image ({where}; truncated or corrupt?)")
    return bgr


def import_drone_causality(cfg: DroneImportConfig) -> ImportSummary:
    """Convert drone_causality-style flights into a dataset at ``cfg.out`` (one episode per
    flight), with signals ``vx, vy, vz`` (m/s) and ``yaw_rate`` (rad/s).

    Raises:
        LogFormatError: bad input, naming the file and line or frame; nothing is written.
    """
    log_dir = Path(cfg.log_dir).expanduser()
    flights = [check_flight(f, cfg) for f in find_flights(log_dir, cfg.csv_name)]
    first = _decode(flights[0].images[0], "frame 0")
    if cfg.height is not None:
        h, w = int(cfg.height), int(cfg.width)  # type: ignore[arg-type]
    else:
        h, w = first.shape[:2]
    units = {s: STANDARD_UNITS[s] for s in cfg.columns}
    frames = 0
    total = sum(len(f.images) for f in flights)
    with LogWriter(
        cfg.out,
        height=h,
        width=w,
        fps=float(cfg.fps),
        signals=units,
        source=f"drone_causality:{log_dir.resolve()}",
        encoding=cfg.encoding,
        overwrite=cfg.overwrite,
        extra={
            "columns": dict(cfg.columns),
            "csv_name": cfg.csv_name,
            "action": "body-frame vx, vy, vz (m/s) and yaw_rate = omega_z (rad/s)",
            "resized": cfg.height is not None,
        },
    ) as writer:
        bar = tqdm(total=total, desc="import-drone", unit="frame")
        for flight in flights:
            meta = {"flight": flight.folder.name, "group": flight.folder.name}
            with writer.episode(meta=meta) as ep:
                for i, p in enumerate(flight.images):
                    where = f"frame {i} of {flight.folder}"
                    bgr = _decode(p, where)
                    if cfg.height is not None:
                        bgr = cv2.resize(bgr, (w, h), interpolation=cv2.INTER_AREA)
                    elif bgr.shape[:2] != (h, w):
                        raise LogFormatError(
                            f"{p}: image is {bgr.shape[1]}x{bgr.shape[0]}, the first is {w}x{h} "
                            f"({where}); pass height=... width=... to resize"
                        )
                    ep.append(
                        cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB),
                        timestamp=i / float(cfg.fps),
                        **{s: float(v[i]) for s, v in flight.signals.items()},
                    )
                    bar.update()
            frames += len(flight.images)
        bar.close()
    return ImportSummary(
        out=Path(cfg.out).absolute(),
        episodes=len(flights),
        frames=frames,
        notes=[f"{len(flights)} flight(s) from {log_dir}"],
    )


__all__ = ["DroneImportConfig", "FLIGHT_SIGNALS", "import_drone_causality"]
