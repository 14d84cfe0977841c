"""Pieces shared by importers: strict number parsing, label ranges, strict image decoding
and frame-path resolution."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import cv2
import numpy as np

from lnn_drive.data.log import LogFormatError

_WINDOWS_DRIVE = re.compile(r"^[A-Za-z]:/")


@dataclass(frozen=True, kw_only=True)
class ImportSummary:
    """What an importer wrote.

    Attributes:
        out: Dataset folder.
        episodes: Episodes written.
        frames: Frames written.
        notes: Human-readable remarks (trimmed frames, split points...).
    """

    out: Path
    episodes: int
    frames: int
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "out": str(self.out),
            "episodes": self.episodes,
            "frames": self.frames,
            "notes": self.notes,
        }


def parse_float(value: str, *, where: str, column: str) -> float:
    """Parse a finite number or raise :class:`LogFormatError` naming ``where`` and ``column``."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise LogFormatError(f"{where}: {column} {value!r} is not a number") from None
    if not math.isfinite(v):
        raise LogFormatError(f"{where}: {column} {value!r} is not a finite number")
    return v


#: Bounds of the control signals: (low, high, whether the bounds are included).
_LABEL_RANGES: dict[str, tuple[float, float, bool]] = {
    "throttle": (0.0, 1.0, True),
    "brake": (0.0, 1.0, True),
    "speed": (0.0, math.inf, True),
}
#: Steering bounds per input unit: beyond them the conversion to curvature wraps around.
_STEERING_RANGES: dict[str, tuple[float, float, bool]] = {
    "normalized": (-1.0, 1.0, True),
    "angle_deg": (-90.0, 90.0, False),
    "angle_rad": (-math.pi / 2, math.pi / 2, False),
}


def check_label(name: str, value: float, *, where: str, steering_unit: str | None = None) -> None:
    """Refuse a control value outside its physical range, naming ``where``.

    Steering in ``steering_unit`` must be within [-1, 1] (normalised) or strictly within
    +-90 degrees (an angle: ``tan`` wraps there, turning a hard right into a left);
    throttle and brake within [0, 1]; speed not negative. Other signals are unbounded.

    Raises:
        LogFormatError: naming ``where``, the signal, the value and the allowed range.
    """
    bounds = _STEERING_RANGES.get(steering_unit or "") if name == "steering" else None
    bounds = bounds or _LABEL_RANGES.get(name)
    if bounds is None:
        return
    lo, hi, closed = bounds
    ok = lo <= value <= hi if closed else lo < value < hi
    if not ok:
        unit = f" ({steering_unit})" if name == "steering" else ""
        rng = f"[{lo:g}, {hi:g}]" if closed else f"({lo:g}, {hi:g})"
        if math.isinf(hi):
            rng = f">= {lo:g}"
        raise LogFormatError(f"{where}: {name} {value:g}{unit} is outside {rng}")


_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_PNG_END = b"IEND\xaeB`\x82"


def read_image_bytes(path: Path, *, where: str) -> bytes:
    """The bytes of an image file, checked for completeness without decoding.

    OpenCV decodes a truncated JPEG without an error (the lost part comes out grey), so a
    JPEG must end with its end-of-image marker and a PNG with its ``IEND`` chunk. The
    format is told by content, not by the file extension.

    Raises:
        LogFormatError: an unreadable, empty or truncated file, naming it and ``where``.
    """
    try:
        data = path.read_bytes()
    except OSError as e:
        raise LogFormatError(f"{path}: cannot read image ({e.strerror or e}; {where})") from e
    if not data:
        raise LogFormatError(f"{path}: empty image file (0 bytes; {where})")
    if data[:3] == b"\xff\xd8\xff":
        # Some cameras pad the file after the marker with zero bytes.
        if not data.rstrip(b"\x00").endswith(b"\xff\xd9"):
            raise LogFormatError(
                f"{path}: truncated JPEG (no end-of-image marker; {len(data)} bytes; {where})"
            )
    elif data[:8] == _PNG_MAGIC and not data.endswith(_PNG_END):
        raise LogFormatError(f"{path}: truncated PNG (no IEND chunk; {where})")
    return data


def decode_image(path: Path, *, where: str) -> np.ndarray:
    """Decode an image file strictly (see :func:`read_image_bytes`) into BGR uint8 (H, W, 3).

    Raises:
        LogFormatError: naming the file and ``where`` (the CSV line).
    """
    data = read_image_bytes(path, where=where)
    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if bgr is None:
        raise LogFormatError(
            f"{path}: cannot decode image (not a JPEG, PNG or other format OpenCV reads; "
            f"starts with {data[:8]!r}; {where})"
        )
    return bgr


def _inside(p: Path, base: Path) -> bool:
    return p == base or base in p.parents


def resolve_frame_path(raw: str, log_dir: Path, *, where: str) -> Path:
    """Find the image a log row names, inside ``log_dir``.

    Relative paths resolve against ``log_dir``. Absolute paths are used as they are when
    they exist inside ``log_dir``; otherwise (a log recorded on another machine, Windows
    backslash paths included) the longest tail of the path that exists under ``log_dir``
    is used, e.g. ``C:\\Users\\me\\data\\IMG\\center_1.jpg`` -> ``<log_dir>/IMG/center_1.jpg``.

    Raises:
        LogFormatError: empty path, a path resolving outside ``log_dir`` (``..``, symlinks),
            or no such file.
    """
    base = log_dir.resolve()
    s = raw.strip().replace("\\", "/")
    if not s:
        raise LogFormatError(f"{where}: empty image path")
    is_abs = s.startswith("/") or bool(_WINDOWS_DRIVE.match(s))
    if not is_abs:
        cand = (base / s).resolve()
        if not _inside(cand, base):
            raise LogFormatError(
                f"{where}: image path {raw!r} resolves outside the log folder {base}"
            )
        if not cand.is_file():
            raise LogFormatError(f"{where}: image {raw!r} not found (looked for {cand})")
        return cand
    outside_hit = None
    if not _WINDOWS_DRIVE.match(s):
        direct = Path(s).resolve()
        if direct.is_file():
            if _inside(direct, base):
                return direct
            outside_hit = direct
    parts = [p for p in PurePosixPath(s).parts if p != "/" and not _WINDOWS_DRIVE.match(p + "/")]
    parts = [p for p in parts if p not in ("", ".")]
    if ".." in parts:
        raise LogFormatError(
            f"{where}: image path {raw!r} contains '..'; refusing to guess where it points"
        )
    for i in range(len(parts)):
        cand = base.joinpath(*parts[i:]).resolve()
        if cand.is_file() and _inside(cand, base):
            return cand
    if outside_hit is not None:
        raise LogFormatError(f"{where}: image path {raw!r} resolves outside the log folder {base}")
    raise LogFormatError(
        f"{where}: image {raw!r} not found under {base} (tried the path and each of its tails, "
        f"e.g. {base / Path(*parts[-2:]) if len(parts) >= 2 else base / parts[-1]})"
    )
