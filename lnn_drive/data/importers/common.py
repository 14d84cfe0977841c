"""Pieces shared by importers: strict number parsing and frame-path resolution."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

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
