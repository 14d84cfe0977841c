"""The driving-log format: one writer for every producer, one validating reader.

A dataset is a folder::

    <root>/
      dataset.json              # DatasetMeta + the list of episodes; written last
      episodes/
        ep_00000/
          frames.mkv            # RGB frames, FFV1 lossless (or frames.mp4, MPEG-4 part 2, lossy)
          signals.csv           # header `timestamp,<signal>,...`; one row per frame
          episode.json          # frame count, duration, producer metadata; written last

Every write is staged: the dataset is built in ``<root>.incomplete/`` and moved to
``<root>`` by :meth:`LogWriter.close`, and each episode is built in a hidden
``episodes/.ep_XXXXX.partial/`` folder that is renamed when the episode is finalised.
An interrupted write therefore never leaves anything at ``<root>`` that looks complete.
A writer holds an exclusive lock on ``<root>.lock`` from start to finish, so a second
writer to the same ``root`` is refused instead of destroying the first one's staging.
``overwrite`` only ever replaces an existing dataset of this format (a folder with this
format's ``dataset.json``), never a folder of other files nor one that is, contains or
lies inside an input of the write, and the old dataset stays in place until the new one
is complete (the two are swapped in one atomic rename where the OS supports it).
See ``data/README.md`` for the format as a user reads it.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import ctypes
import ctypes.util
import errno
import fcntl
import functools
import json
import math
import os
import re
import shutil
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import cv2
import numpy as np

FORMAT_NAME = "lnn_drive.log"
FORMAT_VERSION = 1

#: Units of the signals this project knows; a dataset may declare others.
STANDARD_UNITS: dict[str, str] = {
    "steering": "1/m",  # path curvature, positive = turning left
    "speed": "m/s",
    "throttle": "1",
    "brake": "1",
    "vx": "m/s",
    "vy": "m/s",
    "vz": "m/s",
    "yaw_rate": "rad/s",
}

#: Largest camera side (pixels) a dataset may declare.
MAX_SIDE = 8192

#: Frame containers: encoding name -> (file name, OpenCV FourCC).
ENCODINGS: dict[str, tuple[str, str]] = {
    "ffv1": ("frames.mkv", "FFV1"),  # lossless
    "mp4v": ("frames.mp4", "mp4v"),  # lossy, about 10x smaller
}


#: Episode folder names a dataset may list (anything else could point outside the root).
EPISODE_NAME = re.compile(r"ep_\d{5,}")

#: Marker file inside a writer's staging folder, so only our own staging is ever deleted.
_STAGING_MARKER = ".lnn_drive_staging"


class LogFormatError(ValueError):
    """A driving log, or data on its way into one, breaks the format. The message names
    the file (and row or frame) at fault."""


def read_csv_rows(path: Path) -> list[list[str]]:
    """All rows of a CSV file, read as UTF-8 with an optional byte-order mark (Excel).

    Raises:
        LogFormatError: the file cannot be read or is not UTF-8 text, naming the file
            and the line of the first undecodable byte.
    """
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise LogFormatError(f"{path}: cannot read ({e.strerror or e})") from e
    bom = len(codecs.BOM_UTF8) if raw.startswith(codecs.BOM_UTF8) else 0
    try:
        text = raw[bom:].decode("utf-8")
    except UnicodeDecodeError as e:
        at = bom + e.start
        line = raw[:at].count(b"\n") + 1
        raise LogFormatError(
            f"{path}, line {line}: not UTF-8 text (byte 0x{raw[at]:02x} at offset {at}); "
            "save the file as UTF-8"
        ) from None
    if "\x00" in text:  # a text CSV never holds one: a corrupt or binary file
        line = text[: text.index("\x00")].count("\n") + 1
        raise LogFormatError(f"{path}, line {line}: not a CSV row (NUL byte; corrupt file?)")
    reader = csv.reader(text.splitlines())
    try:
        return list(reader)
    except csv.Error as e:  # e.g. a field over the csv module's size limit
        raise LogFormatError(f"{path}, line {reader.line_num}: not a CSV row ({e})") from None


def is_dataset(path: str | os.PathLike[str]) -> bool:
    """True when ``path`` is a folder holding this format's ``dataset.json``."""
    index = Path(path) / "dataset.json"
    try:
        return index.is_file() and json.loads(index.read_bytes()).get("format") == FORMAT_NAME
    except (OSError, ValueError, AttributeError):
        return False


def _within(p: Path, base: Path) -> bool:
    return p == base or base in p.parents


#: What :func:`check_destination` says an ``overwrite`` may replace, by default.
_DATASET_KIND = f"an lnn_drive dataset (no dataset.json of format {FORMAT_NAME!r})"


def check_destination(
    root: str | os.PathLike[str],
    *,
    overwrite: bool,
    inputs: Iterable[str | os.PathLike[str]] = (),
    recognise: Callable[[Path], bool] = is_dataset,
    kind: str = _DATASET_KIND,
) -> Path:
    """Refuse a write destination that would destroy something.

    ``root`` may be new (anywhere, even inside an input folder), or, with ``overwrite``,
    an existing dataset of the format ``recognise`` accepts (default: this project's).
    An existing ``root`` may never be, contain or lie inside one of ``inputs`` (the files
    and folders the write reads), so no input can be lost.

    Args:
        root: The destination folder.
        overwrite: Whether an existing dataset at ``root`` may be replaced.
        inputs: Files and folders the write reads.
        recognise: True for a folder that ``overwrite`` may replace.
        kind: What ``recognise`` accepts, for the error message ("an X dataset (...)").

    Returns:
        ``root`` as an absolute path.

    Raises:
        FileExistsError: ``root`` exists and ``overwrite`` is false.
        LogFormatError: ``root`` overlaps an input, or is not a dataset of this format.
    """
    dest = Path(root).absolute()
    real = dest.resolve()
    if not (dest.exists() or dest.is_symlink()):
        return dest  # a new folder destroys nothing, even inside an input folder
    for inp in inputs:
        src = Path(inp).absolute().resolve()
        if _within(real, src) or _within(src, real):
            how = "is" if real == src else ("lies inside" if _within(real, src) else "contains")
            raise LogFormatError(
                f"out={dest} {how} the input {src}; write the dataset to a folder of its own"
            )
    if dest.is_symlink():
        raise LogFormatError(f"out={dest} is a symbolic link; give the real folder instead")
    if dest.exists():
        if not overwrite:
            raise FileExistsError(f"{dest} exists; choose another path or pass overwrite=true")
        if not recognise(dest):
            raise LogFormatError(
                f"{dest} is not {kind}; overwrite=true only replaces a dataset, "
                "so nothing was deleted"
            )
    return dest


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths (Linux ``renameat2(RENAME_EXCHANGE)``); False if the
    OS or file system cannot."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    rc = fn(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange)
    if rc == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EXDEV):
        return False
    raise OSError(err, os.strerror(err), str(b))


class _Lock:
    """An exclusive ``flock`` on ``path`` (released by the OS if the process dies)."""

    def __init__(self, path: Path, *, what: Path) -> None:
        self.path = path
        while True:
            try:
                fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as e:
                raise LogFormatError(
                    f"out={what}: cannot create the lock file {path} ({e.strerror or e})"
                ) from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise FileExistsError(
                    f"{what} is being written by another process (lock {path} is held); "
                    "wait for it to finish or choose another out="
                ) from None
            try:  # the holder before us may have deleted the file after we opened it
                same = os.fstat(fd).st_ino == os.stat(path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd: int | None = fd

    def release(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)
            os.close(self._fd)
            self._fd = None


class StagedFolder:
    """A folder output written safely: checked, locked, staged, swapped in when complete.

    ``<root>.lock`` is held from start to finish (a second writer to ``root`` is refused),
    the output is built in :attr:`path` (``<root>.incomplete/``, marked as ours so only our
    own staging is ever deleted), and :meth:`publish` swaps it into place atomically where
    the OS can, so an existing output stays intact until the new one is complete.

    Args:
        root: Destination folder (see :func:`check_destination` for what may be there).
        overwrite: Replace an existing dataset at ``root``.
        inputs: Files and folders the write reads; ``root`` may not overlap them.
        recognise: True for a folder ``overwrite`` may replace (default: this format).
        kind: What ``recognise`` accepts, for error messages.

    Raises:
        FileExistsError: ``root`` exists without ``overwrite``, or another writer holds it.
        LogFormatError: ``root`` is not a dataset, overlaps an input, or cannot be created.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        overwrite: bool,
        inputs: Iterable[str | os.PathLike[str]] = (),
        recognise: Callable[[Path], bool] = is_dataset,
        kind: str = _DATASET_KIND,
    ) -> None:
        self.root = Path(root).absolute()
        self._recognise = recognise
        self._check = functools.partial(
            check_destination,
            self.root,
            overwrite=overwrite,
            inputs=[Path(p) for p in inputs],
            recognise=recognise,
            kind=kind,
        )
        self._check()
        self.path = self.root.with_name(self.root.name + ".incomplete")
        try:
            self.root.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise LogFormatError(
                f"out={self.root}: cannot create its folder {self.root.parent} ({e.strerror or e})"
            ) from None
        self._lock: _Lock | None = _Lock(
            self.root.with_name(self.root.name + ".lock"), what=self.root
        )
        try:
            if self.path.exists() or self.path.is_symlink():
                self._remove_stale_staging()
            self.path.mkdir()
            (self.path / _STAGING_MARKER).write_text(f"{os.getpid()}\n")
        except OSError as e:
            self._release()
            raise LogFormatError(
                f"out={self.root}: cannot create {self.path} ({e.strerror or e})"
            ) from None
        except BaseException:
            self._release()
            raise
        self.done = False

    def _remove_stale_staging(self) -> None:
        """Delete the staging folder an interrupted write left (we hold the lock, so no
        live writer owns it), but only if it is ours."""
        st = self.path
        entries = {p.name for p in st.iterdir()} if st.is_dir() and not st.is_symlink() else None
        ours = entries is not None and (
            _STAGING_MARKER in entries
            or entries <= {"episodes"}
            or self._recognise(st)  # the replaced one, if a crash followed the swap
        )
        if not ours:
            raise LogFormatError(
                f"{st} exists and is not a staging folder of this project; move it away"
            )
        shutil.rmtree(st)

    def _release(self) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def publish(self) -> Path:
        """Move the complete staging folder to ``root`` (replacing the old dataset, checked
        again first: the destination may have changed meanwhile). Returns ``root``."""
        try:
            self._check()
            self._move_into_place()
        except BaseException:
            self.abort()
            raise
        # The marker came along (a crash before this leaves only a harmless hidden file).
        with contextlib.suppress(FileNotFoundError):
            (self.root / _STAGING_MARKER).unlink()
        self._release()
        self.done = True
        return self.root

    def _move_into_place(self) -> None:
        if not (self.root.exists() or self.root.is_symlink()):
            os.rename(self.path, self.root)
        elif _exchange(self.path, self.root):
            shutil.rmtree(self.path)  # now holds the old dataset
        else:  # no atomic swap: the old dataset is kept aside until the new one is in place
            old = self.root.with_name(f".{self.root.name}.old-{uuid.uuid4().hex[:8]}")
            os.rename(self.root, old)
            try:
                os.rename(self.path, self.root)
            except BaseException:
                os.rename(old, self.root)
                raise
            shutil.rmtree(old, ignore_errors=True)

    def abort(self) -> None:
        """Discard the staging folder; ``root`` is left untouched."""
        if self.done:
            return
        shutil.rmtree(self.path, ignore_errors=True)
        self._release()
        self.done = True


@dataclass(frozen=True, kw_only=True)
class DatasetMeta:
    """Dataset-wide facts.

    Attributes:
        height: Camera image height in pixels.
        width: Camera image width in pixels.
        fps: Nominal frame rate (Hz); the per-frame timestamps are authoritative.
        signals: Signal name -> unit, in column order (``timestamp`` excluded).
        source: Who produced the data (``simulator:LaneKeeping-v0``, ``udacity:<path>``...).
        encoding: Frame container, a key of :data:`ENCODINGS`.
        extra: Free-form producer metadata (JSON-serialisable).
    """

    height: int
    width: int
    fps: float
    signals: dict[str, str]
    source: str
    encoding: str = "ffv1"
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for side in (self.height, self.width):
            if not isinstance(side, int | np.integer) or isinstance(side, bool):
                raise LogFormatError(
                    f"camera size must be integers, got {self.height}x{self.width}"
                )
            if not 0 < side <= MAX_SIDE:
                raise LogFormatError(
                    f"camera size must be within 1..{MAX_SIDE} pixels, got {self.height}x{self.width}"
                )
        if not (math.isfinite(self.fps) and self.fps > 0):
            raise LogFormatError(f"fps must be a positive number, got {self.fps}")
        if not self.signals:
            raise LogFormatError("a dataset needs at least one signal besides timestamp")
        if "timestamp" in self.signals:
            raise LogFormatError("'timestamp' is implicit; do not list it among the signals")
        for name, unit in self.signals.items():
            if not isinstance(name, str) or not name.isidentifier():
                raise LogFormatError(f"signal name {name!r} must be an identifier")
            if not isinstance(unit, str):
                raise LogFormatError(f"signal {name}: unit must be a string, got {unit!r}")
        if self.encoding not in ENCODINGS:
            raise LogFormatError(
                f"unknown frame encoding {self.encoding!r}; choose one of {sorted(ENCODINGS)}"
            )

    @property
    def signal_names(self) -> list[str]:
        return list(self.signals)

    def to_json(self) -> dict[str, Any]:
        return {
            "camera": {"height": self.height, "width": self.width, "channels": 3},
            "fps": self.fps,
            "signals": dict(self.signals),
            "source": self.source,
            "encoding": self.encoding,
            "extra": self.extra,
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any], *, where: str) -> DatasetMeta:
        for key, kind in (("camera", dict), ("signals", dict), ("extra", dict)):
            if key in d and not isinstance(d[key], kind):
                raise LogFormatError(f"{where}: {key!r} must be an object, got {d[key]!r}")
        try:
            return cls(
                height=d["camera"]["height"],
                width=d["camera"]["width"],
                fps=float(d["fps"]),
                signals=dict(d["signals"]),
                source=str(d["source"]),
                encoding=str(d.get("encoding", "ffv1")),
                extra=dict(d.get("extra", {})),
            )
        except (KeyError, TypeError, ValueError) as e:
            raise LogFormatError(f"{where}: malformed dataset metadata ({e})") from e


@dataclass(frozen=True, kw_only=True)
class EpisodeInfo:
    """One finalised episode.

    Attributes:
        name: Folder name, ``ep_XXXXX``.
        path: Absolute path of the episode folder.
        num_frames: Number of frames (= rows of ``signals.csv``).
        duration_s: Last minus first timestamp.
        meta: Producer metadata (seed, camera, group, ...).
    """

    name: str
    path: Path
    num_frames: int
    duration_s: float
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def group(self) -> str:
        """Episodes of one group (e.g. the left/centre/right cameras of one drive) are
        never split between training and validation."""
        return str(self.meta.get("group", self.name))


def _read_json_object(path: Path) -> dict[str, Any]:
    """A JSON object from ``path``; any fault raises :class:`LogFormatError` naming it."""
    try:
        obj = json.loads(path.read_bytes().decode("utf-8-sig"))
    except OSError as e:
        raise LogFormatError(f"{path}: cannot read ({e.strerror or e})") from e
    except UnicodeDecodeError as e:
        raise LogFormatError(f"{path}: not UTF-8 text ({e.reason} at offset {e.start})") from None
    except json.JSONDecodeError as e:
        raise LogFormatError(f"{path}: invalid JSON ({e})") from None
    if not isinstance(obj, dict):
        raise LogFormatError(f"{path}: expected a JSON object, got {type(obj).__name__}")
    return obj


def _write_json_atomic(path: Path, obj: Any) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=2, sort_keys=False)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class EpisodeWriter:
    """Appends frames and signals to one episode; :meth:`close` finalises it atomically.

    Made by :meth:`LogWriter.episode`, not directly. Use as a context manager: an
    exception inside the block discards the episode.
    """

    def __init__(self, owner: LogWriter, name: str, meta: dict[str, Any]) -> None:
        self._owner = owner
        self._dmeta = owner.meta
        self.name = name
        self.meta = dict(meta)
        self._final = owner._staging / "episodes" / name
        self._dir = owner._staging / "episodes" / f".{name}.partial"
        if self._dir.exists():
            shutil.rmtree(self._dir)
        self._dir.mkdir(parents=True)
        fname, fourcc = ENCODINGS[self._dmeta.encoding]
        self._video_path = self._dir / fname
        self._video = cv2.VideoWriter(
            str(self._video_path),
            cv2.VideoWriter_fourcc(*fourcc),
            float(self._dmeta.fps),
            (self._dmeta.width, self._dmeta.height),
        )
        if not self._video.isOpened():
            shutil.rmtree(self._dir, ignore_errors=True)
            raise RuntimeError(
                f"OpenCV cannot write {fourcc} video to {self._video_path}; "
                "is opencv-python-headless installed with FFmpeg support?"
            )
        self._rows: list[list[float]] = []
        self._done = False

    def __len__(self) -> int:
        return len(self._rows)

    def append(self, frame: np.ndarray, *, timestamp: float, **signals: float) -> None:
        """Add one frame.

        Args:
            frame: RGB image, uint8, shape (H, W, 3) as declared in the dataset metadata.
            timestamp: Seconds; strictly increasing within an episode.
            **signals: Exactly the dataset's signals, finite numbers in their units.

        Raises:
            LogFormatError: naming the episode and frame index at fault.
        """
        if self._done:
            raise RuntimeError(f"episode {self.name} is already closed")
        i = len(self._rows)
        where = f"episode {self.name}, frame {i}"
        h, w = self._dmeta.height, self._dmeta.width
        if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8 or frame.shape != (h, w, 3):
            got = (
                f"{frame.dtype} array of shape {frame.shape}"
                if isinstance(frame, np.ndarray)
                else type(frame).__name__
            )
            raise LogFormatError(
                f"{where}: expected a uint8 RGB frame of shape {(h, w, 3)}, got {got}"
            )
        names = self._dmeta.signal_names
        if set(signals) != set(names):
            missing = sorted(set(names) - set(signals))
            extra = sorted(set(signals) - set(names))
            raise LogFormatError(
                f"{where}: signals do not match the dataset: missing {missing}, unexpected {extra}"
            )
        row = [float(timestamp)] + [float(signals[n]) for n in names]
        for name, v in zip(["timestamp", *names], row, strict=True):
            if not math.isfinite(v):
                raise LogFormatError(f"{where}: {name} is not finite ({v})")
        if self._rows and row[0] <= self._rows[-1][0]:
            raise LogFormatError(
                f"{where}: timestamp {row[0]} does not increase (previous {self._rows[-1][0]})"
            )
        self._video.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
        self._rows.append(row)

    def close(self) -> EpisodeInfo:
        """Finalise: write signals and metadata, then rename the folder into place."""
        if self._done:
            raise RuntimeError(f"episode {self.name} is already closed")
        self._video.release()
        if not self._rows:
            self.abort()
            raise LogFormatError(f"episode {self.name}: empty episode (no frames appended)")
        with open(self._dir / "signals.csv", "w", newline="") as f:
            wr = csv.writer(f)
            wr.writerow(["timestamp", *self._dmeta.signal_names])
            wr.writerows([[repr(v) for v in r] for r in self._rows])
        duration = self._rows[-1][0] - self._rows[0][0]
        _write_json_atomic(
            self._dir / "episode.json",
            {"num_frames": len(self._rows), "duration_s": duration, "meta": self.meta},
        )
        os.replace(self._dir, self._final)
        self._done = True
        info = EpisodeInfo(
            name=self.name,
            path=self._final,
            num_frames=len(self._rows),
            duration_s=duration,
            meta=self.meta,
        )
        self._owner._episode_closed(info)
        return info

    def abort(self) -> None:
        """Discard the episode."""
        if not self._done:
            self._video.release()
            shutil.rmtree(self._dir, ignore_errors=True)
            self._done = True
            self._owner._episode_aborted(self)

    def __enter__(self) -> EpisodeWriter:
        return self

    def __exit__(self, et: type | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        if et is None:
            if not self._done:
                self.close()
        else:
            self.abort()


class LogWriter:
    """Writes a dataset; the single entry point for the simulator recorder and importers.

    Example::

        with LogWriter(root, height=78, width=200, fps=30, signals={"steering": "1/m"},
                       source="simulator") as log:
            with log.episode(meta={"seed": 0}) as ep:
                ep.append(frame, timestamp=0.0, steering=0.01)

    Args:
        root: Destination folder; must not exist unless ``overwrite``.
        height, width: Camera image size.
        fps: Nominal frame rate.
        signals: Signal name -> unit, in column order.
        source: Producer description stored in the metadata.
        encoding: Frame container, a key of :data:`ENCODINGS`.
        overwrite: Replace an existing dataset at ``root`` (only once the new one is
            complete); never anything else (see :func:`check_destination`).
        extra: Free-form producer metadata.
        inputs: Files and folders the producer reads; ``root`` may not overlap them.

    Raises:
        FileExistsError: ``root`` exists without ``overwrite``, or another writer holds it.
        LogFormatError: ``root`` is not a dataset, or overlaps an input.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        height: int,
        width: int,
        fps: float,
        signals: Mapping[str, str],
        source: str,
        encoding: str = "ffv1",
        overwrite: bool = False,
        extra: Mapping[str, Any] | None = None,
        inputs: Iterable[str | os.PathLike[str]] = (),
    ) -> None:
        self.root = Path(root).absolute()
        self.meta = DatasetMeta(
            height=int(height),
            width=int(width),
            fps=float(fps),
            signals=dict(signals),
            source=source,
            encoding=encoding,
            extra=dict(extra or {}),
        )
        self._out = StagedFolder(self.root, overwrite=overwrite, inputs=inputs)
        self._staging = self._out.path
        try:
            (self._staging / "episodes").mkdir()
        except BaseException:
            self._out.abort()
            raise
        self._episodes: list[EpisodeInfo] = []
        self._open: EpisodeWriter | None = None
        self._closed = False

    @property
    def episodes(self) -> list[EpisodeInfo]:
        return list(self._episodes)

    def episode(self, *, meta: Mapping[str, Any] | None = None) -> EpisodeWriter:
        """Start the next episode (one at a time)."""
        if self._closed:
            raise RuntimeError(f"LogWriter for {self.root} is closed")
        if self._open is not None:
            raise RuntimeError(f"episode {self._open.name} is still open; close it first")
        name = f"ep_{len(self._episodes):05d}"
        self._open = EpisodeWriter(self, name, dict(meta or {}))
        return self._open

    def _episode_closed(self, info: EpisodeInfo) -> None:
        self._episodes.append(info)
        self._open = None

    def _episode_aborted(self, ep: EpisodeWriter) -> None:
        if self._open is ep:
            self._open = None

    def close(self) -> Path:
        """Finalise the dataset and move it to ``root``. Returns ``root``."""
        if self._closed:
            return self.root
        if self._open is not None:
            raise RuntimeError(f"episode {self._open.name} is still open; close it first")
        if not self._episodes:
            self.abort()
            raise LogFormatError(f"{self.root}: no episodes were written; nothing to save")
        index = {
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            **self.meta.to_json(),
            "episodes": [
                {"name": e.name, "num_frames": e.num_frames, "duration_s": e.duration_s}
                for e in self._episodes
            ],
        }
        _write_json_atomic(self._staging / "dataset.json", index)
        try:
            self._out.publish()
        except BaseException:
            self.abort()
            raise
        self._closed = True
        self._episodes = [
            EpisodeInfo(
                name=e.name,
                path=self.root / "episodes" / e.name,
                num_frames=e.num_frames,
                duration_s=e.duration_s,
                meta=e.meta,
            )
            for e in self._episodes
        ]
        return self.root

    def abort(self) -> None:
        """Discard everything written so far; ``root`` is left untouched."""
        if self._closed:
            return
        if self._open is not None:
            self._open.abort()
        self._out.abort()
        self._closed = True

    def __enter__(self) -> LogWriter:
        return self

    def __exit__(self, et: type | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        if et is None:
            self.close()
        else:
            self.abort()


class DrivingLog:
    """Reads and validates a dataset written by :class:`LogWriter`.

    Opening checks the metadata and that every listed episode is present; signals are
    validated when read (row count, monotone timestamps, finite values) and frames when
    decoded (count and image shape).

    Args:
        root: Dataset folder.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).absolute()
        index_path = self.root / "dataset.json"
        if not index_path.is_file():
            hint = ""
            if self.root.with_name(self.root.name + ".incomplete").exists():
                hint = " (an interrupted write left an .incomplete folder beside it)"
            elif self.root.is_dir():
                hint = " (the folder exists but has no dataset.json: incomplete or not a dataset)"
            raise LogFormatError(
                f"{index_path}: not found; {self.root} is not a complete lnn_drive dataset{hint}"
            )
        index = _read_json_object(index_path)
        if index.get("format") != FORMAT_NAME:
            raise LogFormatError(
                f"{index_path}: format is {index.get('format')!r}, expected {FORMAT_NAME!r}"
            )
        version = index.get("version", -1)
        if not isinstance(version, int) or isinstance(version, bool):
            raise LogFormatError(f"{index_path}: version must be an integer, got {version!r}")
        if version > FORMAT_VERSION:
            raise LogFormatError(
                f"{index_path}: format version {version} is newer than this reader ({FORMAT_VERSION})"
            )
        self.meta = DatasetMeta.from_json(index, where=str(index_path))
        listed = index.get("episodes", [])
        if not isinstance(listed, list):
            raise LogFormatError(f"{index_path}: 'episodes' must be a list, got {listed!r}")
        episodes_dir = (self.root / "episodes").resolve()
        if episodes_dir.parent != self.root.resolve():
            raise LogFormatError(
                f"{self.root / 'episodes'}: resolves to {episodes_dir}, outside the dataset"
            )
        self.episodes: list[EpisodeInfo] = []
        seen: set[str] = set()
        for k, entry in enumerate(listed):
            name = entry.get("name") if isinstance(entry, dict) else None
            where = f"{index_path}, episodes[{k}]"
            if not isinstance(name, str) or not EPISODE_NAME.fullmatch(name):
                raise LogFormatError(
                    f"{where}: episode name {name!r} is not of the form ep_00000; "
                    "refusing to read outside the dataset"
                )
            if name in seen:
                raise LogFormatError(f"{where}: episode {name} is listed twice")
            seen.add(name)
            ep_dir = self.root / "episodes" / name
            if ep_dir.resolve().parent != episodes_dir:
                raise LogFormatError(
                    f"{where}: episode {name} resolves to {ep_dir.resolve()}, outside "
                    f"{episodes_dir} (symbolic link?); refusing to read it"
                )
            ep_json = ep_dir / "episode.json"
            if ep_json.is_symlink() and ep_json.resolve().parent != ep_dir.resolve():
                raise LogFormatError(f"{ep_json}: a symbolic link out of the episode; refusing it")
            if not ep_json.is_file():
                raise LogFormatError(
                    f"{ep_json}: missing; episode {name} is listed in {index_path}"
                )
            ed = _read_json_object(ep_json)
            num_frames = ed.get("num_frames")
            if not isinstance(num_frames, int) or isinstance(num_frames, bool) or num_frames < 1:
                raise LogFormatError(
                    f"{ep_json}: num_frames must be a positive integer, got {num_frames!r}"
                )
            duration = ed.get("duration_s")
            if (
                not isinstance(duration, int | float)
                or isinstance(duration, bool)
                or not math.isfinite(duration)
                or duration < 0
            ):
                raise LogFormatError(
                    f"{ep_json}: duration_s must be a non-negative number, got {duration!r}"
                )
            meta = ed.get("meta", {})
            if not isinstance(meta, dict):
                raise LogFormatError(f"{ep_json}: meta must be an object, got {meta!r}")
            self.episodes.append(
                EpisodeInfo(
                    name=name,
                    path=ep_dir,
                    num_frames=num_frames,
                    duration_s=float(duration),
                    meta=meta,
                )
            )
        if not self.episodes:
            raise LogFormatError(f"{index_path}: the dataset lists no episodes")

    def __len__(self) -> int:
        return len(self.episodes)

    @property
    def num_frames(self) -> int:
        return sum(e.num_frames for e in self.episodes)

    def _episode_file(self, ep: EpisodeInfo, name: str) -> Path:
        """``ep.path / name``, refused if a symbolic link leads it out of the episode."""
        path = ep.path / name
        if path.is_symlink() and path.resolve().parent != ep.path.resolve():
            raise LogFormatError(
                f"{path}: a symbolic link to {path.resolve()}, outside the episode; "
                "refusing to read it"
            )
        return path

    def video_path(self, ep: EpisodeInfo) -> Path:
        return ep.path / ENCODINGS[self.meta.encoding][0]

    def signals(self, ep: EpisodeInfo) -> dict[str, np.ndarray]:
        """Read and validate ``signals.csv``.

        Returns:
            Column name -> float64 array of shape (num_frames,), ``timestamp`` first.
        """
        path = self._episode_file(ep, "signals.csv")
        expected = ["timestamp", *self.meta.signal_names]
        rows = read_csv_rows(path)
        if not rows or rows[0] != expected:
            raise LogFormatError(
                f"{path}: header {rows[0] if rows else None} != expected {expected}"
            )
        body = rows[1:]
        if len(body) != ep.num_frames:
            raise LogFormatError(
                f"{path}: {len(body)} rows but the episode has {ep.num_frames} frames"
            )
        data = np.empty((len(body), len(expected)), np.float64)
        for r, row in enumerate(body):
            line = r + 2  # 1-based, after the header
            if len(row) != len(expected):
                raise LogFormatError(
                    f"{path}, line {line}: {len(row)} fields, expected {len(expected)}"
                )
            try:
                data[r] = [float(v) for v in row]
            except ValueError as e:
                raise LogFormatError(f"{path}, line {line}: non-numeric value ({e})") from e
            bad = [n for n, v in zip(expected, data[r], strict=True) if not math.isfinite(v)]
            if bad:
                raise LogFormatError(f"{path}, line {line}: non-finite {bad}")
            if r and data[r, 0] <= data[r - 1, 0]:
                raise LogFormatError(
                    f"{path}, line {line}: timestamp {data[r, 0]} does not increase"
                )
        return {n: data[:, j].copy() for j, n in enumerate(expected)}

    def iter_frames(self, ep: EpisodeInfo) -> Iterator[np.ndarray]:
        """Decode frames one by one as RGB uint8 (H, W, 3), checking shape and count."""
        path = self._episode_file(ep, self.video_path(ep).name)
        if not path.is_file():
            raise LogFormatError(f"{path}: missing frame file for episode {ep.name}")
        cap = cv2.VideoCapture(str(path))
        try:
            if not cap.isOpened():
                raise LogFormatError(f"{path}: cannot open video (corrupt or truncated?)")
            want = (self.meta.height, self.meta.width, 3)
            n = 0
            while True:
                ok, bgr = cap.read()
                if not ok:
                    break
                if bgr.shape != want:
                    raise LogFormatError(
                        f"{path}, frame {n}: shape {bgr.shape} != dataset camera {want}"
                    )
                n += 1
                if n > ep.num_frames:
                    raise LogFormatError(
                        f"{path}: more than the {ep.num_frames} frames the episode declares"
                    )
                yield cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            if n != ep.num_frames:
                raise LogFormatError(
                    f"{path}: decoded {n} frames but signals.csv has {ep.num_frames} rows (truncated or corrupt video?)"
                )
        finally:
            cap.release()

    def frames(self, ep: EpisodeInfo) -> np.ndarray:
        """All frames of an episode, RGB uint8 of shape (N, H, W, 3)."""
        out = np.empty((ep.num_frames, self.meta.height, self.meta.width, 3), np.uint8)
        for i, f in enumerate(self.iter_frames(ep)):
            out[i] = f
        return out

    def validate(self, *, decode: bool = True) -> None:
        """Check every episode's signals and (if ``decode``) frames; raises on the first fault."""
        for ep in self.episodes:
            self.signals(ep)
            if decode:
                for _ in self.iter_frames(ep):
                    pass
