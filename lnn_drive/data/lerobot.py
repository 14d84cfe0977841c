"""LeRobot datasets (codebase version v3.0) to and from the project's driving-log format.

The layout written by :func:`export_lerobot` and read by :func:`import_lerobot`::

    <root>/
      meta/info.json                                   # codebase_version "v3.0", fps, features, path templates
      meta/stats.json                                  # per-feature min/max/mean/std/count/q01/q10/q50/q90/q99
      meta/tasks.parquet                               # task string (pandas index "task") -> task_index
      meta/episodes/chunk-000/file-000.parquet         # one row per episode: length, data/video file refs, stats
      meta/lnn_drive.json                              # sidecar: units, exact timestamps, producer metadata
      data/chunk-000/file-000.parquet                  # one row per frame, several episodes per file
      videos/observation.images.<camera>/chunk-000/file-000.mp4   # several episodes per file

Frames become the video feature ``observation.images.<camera>``; the action signals
(steering, or the drone's velocity commands) become ``action``; every other signal becomes
``observation.state``; the feature ``names`` are the signal names. LeRobot has no place for
units or irregular clocks, so the sidecar ``meta/lnn_drive.json`` (ignored by LeRobot)
keeps them: with it a round trip gives back the original timestamps and units exactly;
without it (a dataset recorded by LeRobot itself) the importer uses the ``timestamp``
column and marks units ``unknown``.

Only ``pyarrow`` and ``av`` (PyAV) are used, not the ``lerobot`` package; install them with
``pip install 'lnn_drive[lerobot]'``. See ``docs/lerobot.md`` for the loader this layout
was checked against.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from lnn_drive.data.importers.common import ImportSummary
from lnn_drive.data.log import ENCODINGS, DrivingLog, LogFormatError, LogWriter, StagedFolder

CODEBASE_VERSION = "v3.0"
SIDECAR_FORMAT = "lnn_drive.lerobot-sidecar"
CHUNK_FILE = "chunk-{chunk_index:03d}/file-{file_index:03d}"
DATA_PATH = "data/" + CHUNK_FILE + ".parquet"
VIDEO_PATH = "videos/{video_key}/" + CHUNK_FILE + ".mp4"
EPISODES_PATH = "meta/episodes/" + CHUNK_FILE + ".parquet"
QUANTILES = (0.01, 0.10, 0.50, 0.90, 0.99)
INDEX_FEATURES = ("timestamp", "frame_index", "episode_index", "index", "task_index")

#: Signals that are commands (LeRobot ``action``) rather than observations.
ACTION_SIGNALS = ("steering", "throttle", "brake", "vx", "vy", "vz", "yaw_rate")

#: codec option -> (PyAV encoder, pixel format, encoder options, info.json codec name)
CODECS: dict[str, tuple[str, str, dict[str, str], str]] = {
    # LeRobot's own default: AV1 in yuv420p (lossy, small).
    "av1": ("libsvtav1", "yuv420p", {"crf": "30", "preset": "8"}, "av1"),
    # H.264 yuv420p: plays everywhere (lossy).
    "h264": ("libx264", "yuv420p", {"crf": "18", "preset": "fast"}, "h264"),
    # H.264 in RGB at qp 0: lossless, every pixel survives a round trip.
    "h264_lossless": ("libx264rgb", "rgb24", {"qp": "0", "preset": "fast"}, "h264"),
}


def _require(module: str) -> Any:
    try:
        return __import__(module, fromlist=["_"])
    except ImportError as e:  # pragma: no cover - depends on the install
        raise ImportError(
            f"LeRobot datasets need pyarrow and PyAV ({e}); install them with "
            "pip install 'lnn_drive[lerobot]'"
        ) from e


# --------------------------------------------------------------------------- configs


@dataclass(frozen=True, kw_only=True)
class LeRobotExportConfig:
    """Options of :func:`export_lerobot`.

    Attributes:
        root: The lnn_drive dataset to export.
        out: Destination folder of the LeRobot dataset (must not exist unless ``overwrite``).
        camera: Camera name; frames become feature ``observation.images.<camera>``.
        action: Signals that form ``action``; ``None`` picks the known command signals
            present (:data:`ACTION_SIGNALS`). The other signals form ``observation.state``.
        task: The task string every episode gets (LeRobot's language annotation).
        robot_type: ``robot_type`` written to ``info.json``.
        codec: Video codec, a key of :data:`CODECS` (``h264_lossless`` keeps every pixel).
        dtype: ``float32`` (what LeRobot policies expect) or ``float64`` (bit-exact signals).
        data_file_size_mb: Start a new data file once one holds this much (LeRobot: 100).
        video_file_size_mb: Start a new video file once one holds this much (LeRobot: 500).
        chunks_size: Files per ``chunk-XXX`` folder (LeRobot: 1000).
        overwrite: Replace an existing LeRobot dataset at ``out`` (only once the new one is
            complete; never a folder of other files nor one overlapping ``root``).
    """

    root: str
    out: str
    camera: str = "front"
    action: list[str] | None = None
    task: str = "drive along the lane"
    robot_type: str = "lnn_drive"
    codec: str = "av1"
    dtype: str = "float32"
    data_file_size_mb: float = 100.0
    video_file_size_mb: float = 500.0
    chunks_size: int = 1000
    overwrite: bool = False

    def __post_init__(self) -> None:
        if self.codec not in CODECS:
            raise ValueError(f"codec must be one of {sorted(CODECS)}, got {self.codec!r}")
        if self.dtype not in ("float32", "float64"):
            raise ValueError(f"dtype must be float32 or float64, got {self.dtype!r}")
        if not re.fullmatch(r"[A-Za-z0-9_\-]+", self.camera):
            raise ValueError(
                f"camera must be a plain name (letters, digits, _ -), got {self.camera!r}"
            )
        if self.data_file_size_mb <= 0 or self.video_file_size_mb <= 0:
            raise ValueError("data_file_size_mb and video_file_size_mb must be positive")
        if self.chunks_size < 1:
            raise ValueError(f"chunks_size must be at least 1, got {self.chunks_size}")
        if not self.task.strip():
            raise ValueError("task must be a non-empty string")


@dataclass(frozen=True, kw_only=True)
class LeRobotImportConfig:
    """Options of :func:`import_lerobot`.

    Attributes:
        root: The LeRobot v3.0 dataset folder (local; download Hub datasets first).
        out: Output lnn_drive dataset folder.
        camera: Which ``observation.images.<camera>`` to import; ``None`` takes the only one.
        episodes: Episode indices to import; ``None`` imports all.
        encoding: Frame container of the output (``ffv1`` is lossless).
        overwrite: Replace an existing output dataset.
    """

    root: str
    out: str
    camera: str | None = None
    episodes: list[int] | None = None
    encoding: str = "ffv1"
    overwrite: bool = False

    def __post_init__(self) -> None:
        if self.encoding not in ENCODINGS:
            raise ValueError(f"encoding must be one of {sorted(ENCODINGS)}, got {self.encoding!r}")


# --------------------------------------------------------------------------- stats


def feature_stats(values: np.ndarray) -> dict[str, np.ndarray]:
    """LeRobot's per-feature statistics over the first axis.

    Args:
        values: (N, D) numbers.

    Returns:
        ``min max mean std`` and quantiles ``q01 q10 q50 q90 q99`` of shape (D,), and
        ``count`` of shape (1,).
    """
    v = np.asarray(values, np.float64)
    out = {
        "min": v.min(axis=0),
        "max": v.max(axis=0),
        "mean": v.mean(axis=0),
        "std": v.std(axis=0),
        "count": np.array([len(v)]),
    }
    for q, qv in zip(QUANTILES, np.quantile(v, QUANTILES, axis=0), strict=True):
        out[f"q{round(q * 100):02d}"] = qv
    return out


def image_stats(frames: np.ndarray) -> dict[str, np.ndarray]:
    """Per-channel statistics of RGB frames scaled to [0, 1], each of shape (3, 1, 1) as
    LeRobot stores them; ``count`` is the number of frames.

    Args:
        frames: (N, H, W, 3) uint8.
    """
    per_channel = frames.reshape(-1, 3).astype(np.float32) / 255.0  # (N*H*W, 3)
    s = feature_stats(per_channel)
    return {
        k: (v if k == "count" else v.reshape(3, 1, 1))  # (3,) -> (3, 1, 1)
        for k, v in s.items()
    } | {"count": np.array([len(frames)])}


def _aggregate(stats: Sequence[dict[str, np.ndarray]], all_values: np.ndarray | None) -> dict:
    """Dataset-wide stats: exact from ``all_values`` when given (numeric features);
    otherwise count-weighted means/variances and the count-weighted mean of quantiles
    (images, as LeRobot aggregates them)."""
    if all_values is not None:
        return feature_stats(all_values)
    counts = np.array([float(s["count"][0]) for s in stats])
    w = counts / counts.sum()
    mean = sum(wi * s["mean"] for wi, s in zip(w, stats, strict=True))
    var = sum(
        wi * (s["std"] ** 2 + (s["mean"] - mean) ** 2) for wi, s in zip(w, stats, strict=True)
    )
    out = {
        "min": np.min([s["min"] for s in stats], axis=0),
        "max": np.max([s["max"] for s in stats], axis=0),
        "mean": mean,
        "std": np.sqrt(var),
        "count": np.array([int(counts.sum())]),
    }
    for k in stats[0]:
        if k.startswith("q"):
            out[k] = sum(wi * s[k] for wi, s in zip(w, stats, strict=True))
    return out


def _tolist(stats: dict[str, np.ndarray]) -> dict[str, Any]:
    return {k: np.asarray(v).tolist() for k, v in stats.items()}


# --------------------------------------------------------------------------- export


class _VideoFileWriter:
    """One ``file-XXX.mp4`` holding consecutive episodes; PTS counts frames at ``fps``."""

    def __init__(self, path: Path, *, width: int, height: int, fps: float, codec: str) -> None:
        av = _require("av")
        encoder, pix_fmt, options, _ = CODECS[codec]
        os.environ.setdefault("SVT_LOG", "1")  # SVT-AV1 prints its banner to stderr otherwise
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._container = av.open(str(path), mode="w")
        rate = Fraction(fps).limit_denominator(1001)
        self._stream = self._container.add_stream(encoder, rate=rate, options=dict(options))
        self._stream.width, self._stream.height = width, height
        self._stream.pix_fmt = pix_fmt
        self._stream.time_base = 1 / rate
        self._av = av
        self.frames = 0
        self.bytes = 0

    def write(self, rgb: np.ndarray) -> None:
        frame = self._av.VideoFrame.from_ndarray(rgb, format="rgb24")
        frame.pts = self.frames
        for packet in self._stream.encode(frame):
            self.bytes += packet.size
            self._container.mux(packet)
        self.frames += 1

    def close(self) -> None:
        for packet in self._stream.encode(None):
            self.bytes += packet.size
            self._container.mux(packet)
        self._container.close()


def _fps_value(fps: float) -> int | float:
    return int(round(fps)) if abs(fps - round(fps)) < 1e-9 else float(fps)


def _regular(ts: np.ndarray, fps: float) -> bool:
    """Timestamps are exactly ``t0 + i / fps``, so they can be rebuilt from ``t0``."""
    return bool(np.array_equal(ts, ts[0] + np.arange(len(ts)) / fps))


def _split_signals(signals: list[str], action: list[str] | None, where: str) -> tuple[list, list]:
    if action is None:
        act = [s for s in signals if s in ACTION_SIGNALS]
    else:
        unknown = [s for s in action if s not in signals]
        if unknown:
            raise LogFormatError(
                f"{where}: action signal(s) {unknown} not in the dataset's signals {signals}"
            )
        act = [s for s in signals if s in action]
    if not act:
        raise LogFormatError(
            f"{where}: no action signal among {signals}; pass action=[...] naming the command signals"
        )
    return act, [s for s in signals if s not in act]


def is_lerobot_dataset(path: str | os.PathLike[str]) -> bool:
    """True when ``path`` is a folder holding a LeRobot ``meta/info.json`` that names its
    ``codebase_version`` (the only kind of folder ``export-lerobot overwrite=true`` replaces)."""
    info = Path(path) / "meta" / "info.json"
    try:
        d = json.loads(info.read_bytes())
    except (OSError, ValueError):
        return False
    return isinstance(d, dict) and isinstance(d.get("codebase_version"), str)


def _write_json(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=4))


def _next_file(chunk: int, file: int, chunks_size: int) -> tuple[int, int]:
    return (chunk + 1, 0) if file == chunks_size - 1 else (chunk, file + 1)


def _vector_column(pa: Any, rows: list[np.ndarray], dtype: str) -> Any:
    """A fixed-size list column; a 1-vector is a plain scalar column, because LeRobot
    declares features of shape (1,) as scalar ``Value``s."""
    arr = np.stack(rows).astype(dtype)  # (N, D)
    if arr.shape[1] == 1:
        return pa.array(arr[:, 0])  # (N,)
    flat = pa.array(arr.reshape(-1))  # (N*D,)
    return pa.FixedSizeListArray.from_arrays(flat, arr.shape[1])


def _tasks_table(pa: Any, tasks: list[str]) -> Any:
    """``meta/tasks.parquet`` as pandas writes a frame indexed by task: LeRobot reads it
    with ``pd.read_parquet`` and looks tasks up in the index."""
    table = pa.table(
        {
            "task_index": pa.array(range(len(tasks)), pa.int64()),
            "task": pa.array(tasks, pa.string()),
        }
    )
    pandas_meta = {
        "index_columns": ["task"],
        "column_indexes": [
            {
                "name": None,
                "field_name": None,
                "pandas_type": "unicode",
                "numpy_type": "object",
                "metadata": {"encoding": "UTF-8"},
            }
        ],
        "columns": [
            {
                "name": "task_index",
                "field_name": "task_index",
                "pandas_type": "int64",
                "numpy_type": "int64",
                "metadata": None,
            },
            {
                "name": "task",
                "field_name": "task",
                "pandas_type": "unicode",
                "numpy_type": "object",
                "metadata": None,
            },
        ],
        "creator": {"library": "pyarrow", "version": pa.__version__},
        "pandas_version": "2.2.3",
    }
    return table.replace_schema_metadata({b"pandas": json.dumps(pandas_meta).encode()})


def export_lerobot(cfg: LeRobotExportConfig) -> ImportSummary:
    """Write the lnn_drive dataset ``cfg.root`` as a LeRobot v3.0 dataset at ``cfg.out``.

    The dataset is built in ``<out>.incomplete/`` under a lock on ``<out>.lock`` and
    swapped into place when complete (:class:`~lnn_drive.data.log.StagedFolder`), so a
    failed export leaves nothing at ``out`` and an overwritten one stays intact until then.

    Raises:
        LogFormatError: the source dataset is invalid (naming the file at fault) or has no
            action signal; ``out`` is, contains or lies inside the source, or exists and is
            not a LeRobot dataset.
        FileExistsError: ``out`` exists and ``overwrite`` is false, or another writer holds it.
        ValueError: a new ``out`` would lie inside the source dataset.
    """
    pa = _require("pyarrow")
    pq = _require("pyarrow.parquet")
    src = DrivingLog(cfg.root)
    meta = src.meta
    out = Path(cfg.out).expanduser().absolute()
    real, src_real = out.resolve(), src.root.resolve()
    if not out.exists() and (real == src_real or src_real in real.parents):
        raise ValueError(f"out={out} must lie outside the source dataset {src.root}")
    act_names, state_names = _split_signals(
        meta.signal_names, cfg.action, str(src.root / "dataset.json")
    )
    video_key = f"observation.images.{cfg.camera}"
    fps = float(meta.fps)
    staged = StagedFolder(
        out,
        overwrite=cfg.overwrite,
        inputs=[src.root],
        recognise=is_lerobot_dataset,
        kind="a LeRobot dataset (no meta/info.json with a codebase_version)",
    )
    stage = staged.path
    try:
        ep_rows: list[dict[str, Any]] = []
        sidecar_eps: list[dict[str, Any]] = []
        all_num: dict[str, list[np.ndarray]] = {}
        img_stats: list[dict[str, np.ndarray]] = []
        data_loc = [0, 0]
        video_loc = [0, 0]
        data_rows: dict[str, list] = {}
        data_bytes = 0
        video: _VideoFileWriter | None = None
        global_index = 0
        row_bytes = 4 * (len(act_names) + len(state_names)) + 36

        def flush_data() -> None:
            nonlocal data_rows, data_bytes
            if not data_rows:
                return
            cols = {}
            for name in ("action", "observation.state"):
                if name in data_rows:
                    cols[name] = _vector_column(pa, data_rows[name], cfg.dtype)
            cols["timestamp"] = pa.array(np.asarray(data_rows["timestamp"], np.float32))
            for name in INDEX_FEATURES[1:]:
                cols[name] = pa.array(np.asarray(data_rows[name], np.int64))
            path = stage / DATA_PATH.format(chunk_index=data_loc[0], file_index=data_loc[1])
            path.parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(pa.table(cols), path)
            data_rows, data_bytes = {}, 0
            data_loc[:] = _next_file(*data_loc, cfg.chunks_size)

        for e, ep in enumerate(src.episodes):
            sig = src.signals(ep)
            n = ep.num_frames
            ts = sig["timestamp"]
            if video is None:
                video = _VideoFileWriter(
                    stage
                    / VIDEO_PATH.format(
                        video_key=video_key, chunk_index=video_loc[0], file_index=video_loc[1]
                    ),
                    width=meta.width,
                    height=meta.height,
                    fps=fps,
                    codec=cfg.codec,
                )
            from_ts = video.frames / fps
            step = max(1, n // 100)  # LeRobot also samples about 100 frames per episode
            sampled = []
            for j, frame in enumerate(src.iter_frames(ep)):
                video.write(frame)
                if j % step == 0:
                    sampled.append(frame)
            vchunk, vfile = video_loc
            if video.bytes >= cfg.video_file_size_mb * 2**20:
                video.close()
                video = None
                video_loc[:] = _next_file(*video_loc, cfg.chunks_size)
            columns = {
                "action": np.stack([sig[s] for s in act_names], axis=1),  # (n, A)
                "timestamp": np.arange(n) / fps,
                "frame_index": np.arange(n),
                "episode_index": np.full(n, e),
                "index": np.arange(global_index, global_index + n),
                "task_index": np.zeros(n, np.int64),
            }
            if state_names:
                columns["observation.state"] = np.stack([sig[s] for s in state_names], axis=1)
            dchunk, dfile = data_loc
            for name, values in columns.items():
                data_rows.setdefault(name, []).extend(list(values))
                # stats see the stored values (float32 unless dtype=float64)
                stored = (
                    values.astype(cfg.dtype) if name in ("action", "observation.state") else values
                )
                all_num.setdefault(name, []).append(
                    np.asarray(stored, np.float64).reshape(n, -1)  # (n, D)
                )
            data_bytes += n * row_bytes
            if data_bytes >= cfg.data_file_size_mb * 2**20:
                flush_data()
            ep_stats = {name: feature_stats(all_num[name][-1]) for name in columns} | {
                video_key: image_stats(np.stack(sampled))
            }
            img_stats.append(ep_stats[video_key])
            row: dict[str, Any] = {
                "episode_index": e,
                "tasks": [cfg.task],
                "length": n,
                "data/chunk_index": dchunk,
                "data/file_index": dfile,
                "dataset_from_index": global_index,
                "dataset_to_index": global_index + n,
                f"videos/{video_key}/chunk_index": vchunk,
                f"videos/{video_key}/file_index": vfile,
                f"videos/{video_key}/from_timestamp": from_ts,
                f"videos/{video_key}/to_timestamp": from_ts + n / fps,
                "meta/episodes/chunk_index": 0,
                "meta/episodes/file_index": 0,
            }
            for fname, st in ep_stats.items():
                for k, v in st.items():
                    row[f"stats/{fname}/{k}"] = np.asarray(v).tolist()
            ep_rows.append(row)
            sidecar_eps.append(
                {
                    "name": ep.name,
                    "meta": ep.meta,
                    "t0": float(ts[0]),
                    "timestamps": None if _regular(ts, fps) else ts.tolist(),
                }
            )
            global_index += n
        if video is not None:
            video.close()
        flush_data()

        features: dict[str, Any] = {
            video_key: {
                "dtype": "video",
                "shape": [meta.height, meta.width, 3],
                "names": ["height", "width", "channels"],
                "info": {
                    "video.height": meta.height,
                    "video.width": meta.width,
                    "video.codec": CODECS[cfg.codec][3],
                    "video.pix_fmt": CODECS[cfg.codec][1],
                    "video.is_depth_map": False,
                    "video.fps": _fps_value(fps),
                    "video.channels": 3,
                    "has_audio": False,
                },
            },
            "action": {"dtype": cfg.dtype, "shape": [len(act_names)], "names": act_names},
        }
        if state_names:
            features["observation.state"] = {
                "dtype": cfg.dtype,
                "shape": [len(state_names)],
                "names": state_names,
            }
        features["timestamp"] = {"dtype": "float32", "shape": [1], "names": None}
        for name in INDEX_FEATURES[1:]:
            features[name] = {"dtype": "int64", "shape": [1], "names": None}
        n_eps = len(ep_rows)
        info = {
            "codebase_version": CODEBASE_VERSION,
            "robot_type": cfg.robot_type,
            "total_episodes": n_eps,
            "total_frames": global_index,
            "total_tasks": 1,
            "chunks_size": cfg.chunks_size,
            "data_files_size_in_mb": cfg.data_file_size_mb,
            "video_files_size_in_mb": cfg.video_file_size_mb,
            "fps": _fps_value(fps),
            "splits": {"train": f"0:{n_eps}"},
            "data_path": DATA_PATH,
            "video_path": VIDEO_PATH,
            "features": features,
        }
        stats = {
            name: _tolist(_aggregate([], np.concatenate(vals))) for name, vals in all_num.items()
        }
        stats[video_key] = _tolist(_aggregate(img_stats, None))
        _write_json(stage / "meta" / "info.json", info)
        _write_json(stage / "meta" / "stats.json", stats)
        pq.write_table(_tasks_table(pa, [cfg.task]), stage / "meta" / "tasks.parquet")
        ep_path = stage / EPISODES_PATH.format(chunk_index=0, file_index=0)
        ep_path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.Table.from_pylist(ep_rows), ep_path)
        _write_json(
            stage / "meta" / "lnn_drive.json",
            {
                "format": SIDECAR_FORMAT,
                "version": 1,
                "source": meta.source,
                "camera": video_key,
                "signals": dict(meta.signals),
                "action": act_names,
                "state": state_names,
                "extra": meta.extra,
                "episodes": sidecar_eps,
            },
        )
    except BaseException:
        staged.abort()
        raise
    staged.publish()
    return ImportSummary(
        out=out,
        episodes=len(ep_rows),
        frames=global_index,
        notes=[f"action={act_names}", f"observation.state={state_names}", f"codec={cfg.codec}"],
    )


# --------------------------------------------------------------------------- import


@dataclass(frozen=True, kw_only=True)
class _Episode:
    index: int
    length: int
    data_file: Path
    video_file: Path | None  # None: frames are images inside the data parquet
    from_ts: float
    to_ts: float


@dataclass
class LeRobotDataset:
    """A validated, opened LeRobot v3.0 dataset (metadata only; frames are decoded lazily).

    Attributes:
        root: Dataset folder.
        info: ``meta/info.json``.
        video_key: The camera feature imported.
        episodes: Episode references, in episode order.
        sidecar: ``meta/lnn_drive.json`` when present.
    """

    root: Path
    info: dict[str, Any]
    video_key: str
    episodes: list[_Episode]
    sidecar: dict[str, Any] | None = None
    _tables: dict[Path, Any] = field(default_factory=dict, repr=False)

    @property
    def fps(self) -> float:
        return float(self.info["fps"])

    @property
    def images_in_parquet(self) -> bool:
        """Frames stored as encoded images in the data files (``dtype: image``)."""
        return self.info["features"][self.video_key].get("dtype") == "image"

    @property
    def shape(self) -> tuple[int, int]:
        h, w, _ = self.info["features"][self.video_key]["shape"]
        return int(h), int(w)

    def table(self, path: Path, columns: list[str]) -> Any:
        """Read a data parquet file once, checking it has ``columns``."""
        if path not in self._tables:
            self._tables[path] = _read_parquet(path, columns)
        return self._tables[path]


def _read_parquet(path: Path, columns: list[str]) -> Any:
    pq = _require("pyarrow.parquet")
    pa = _require("pyarrow")
    if not path.is_file():
        raise LogFormatError(f"{path}: missing")
    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as e:
        raise LogFormatError(f"{path}: cannot read parquet (truncated or corrupt? {e})") from e
    missing = [c for c in columns if c not in table.column_names]
    if missing:
        raise LogFormatError(f"{path}: missing column(s) {missing} (has {table.column_names})")
    return table


def _load_json(path: Path) -> Any:
    if not path.is_file():
        raise LogFormatError(f"{path}: missing; not a LeRobot v3.0 dataset")
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise LogFormatError(f"{path}: invalid JSON ({e})") from e


def open_lerobot(root: str | os.PathLike[str], camera: str | None = None) -> LeRobotDataset:
    """Open and check the metadata of a LeRobot v3.0 dataset.

    Raises:
        LogFormatError: naming the file at fault: a missing or malformed meta file, another
            ``codebase_version``, a missing feature, column or file.
    """
    root = Path(root).expanduser().absolute()
    if not root.is_dir():
        raise LogFormatError(f"{root}: no such dataset folder")
    info_path = root / "meta" / "info.json"
    info = _load_json(info_path)
    if not isinstance(info, dict):
        raise LogFormatError(f"{info_path}: expected a JSON object")
    version = info.get("codebase_version")
    if version != CODEBASE_VERSION:
        hint = (
            " (convert older datasets with LeRobot's convert_dataset_v21_to_v30 first)"
            if isinstance(version, str) and version.startswith("v2")
            else ""
        )
        raise LogFormatError(
            f"{info_path}: codebase_version is {version!r}, this importer reads {CODEBASE_VERSION!r}{hint}"
        )
    for key in ("fps", "features", "data_path", "video_path", "total_episodes", "total_frames"):
        if key not in info:
            raise LogFormatError(f"{info_path}: missing key {key!r}")
    features = info["features"]
    try:
        fps = float(info["fps"])
    except (TypeError, ValueError):
        fps = math.nan
    if not (math.isfinite(fps) and fps > 0):
        raise LogFormatError(f"{info_path}: fps {info['fps']!r} is not a positive number")
    missing = [f for f in (*INDEX_FEATURES, "action") if f not in features]
    if missing:
        raise LogFormatError(f"{info_path}: missing feature(s) {missing}")
    videos = [
        k
        for k, f in features.items()
        if isinstance(f, dict) and f.get("dtype") in ("video", "image")
    ]
    if camera is not None:
        video_key = f"observation.images.{camera}"
        if video_key not in videos:
            raise LogFormatError(f"{info_path}: no camera feature {video_key!r} (has {videos})")
    elif len(videos) == 1:
        video_key = videos[0]
    elif not videos:
        raise LogFormatError(f"{info_path}: no camera feature (dtype video or image)")
    else:
        names = [v.removeprefix("observation.images.") for v in videos]
        raise LogFormatError(f"{info_path}: several cameras {names}; pick one with camera=...")
    shape = features[video_key].get("shape")
    if not (isinstance(shape, list) and len(shape) == 3 and shape[2] == 3):
        raise LogFormatError(f"{info_path}: {video_key} shape {shape!r} is not [height, width, 3]")
    if not (root / "meta" / "tasks.parquet").is_file():
        raise LogFormatError(f"{root / 'meta' / 'tasks.parquet'}: missing")
    _load_json(root / "meta" / "stats.json")
    ep_files = sorted((root / "meta" / "episodes").glob("chunk-*/file-*.parquet"))
    if not ep_files:
        raise LogFormatError(f"{root / 'meta' / 'episodes'}: no chunk-XXX/file-XXX.parquet files")
    in_parquet = features[video_key].get("dtype") == "image"  # PNG/JPEG bytes in the data
    vcols = (
        []
        if in_parquet
        else [
            f"videos/{video_key}/{k}"
            for k in ("chunk_index", "file_index", "from_timestamp", "to_timestamp")
        ]
    )
    need = ["episode_index", "length", "data/chunk_index", "data/file_index", *vcols]
    episodes: list[_Episode] = []
    for path in ep_files:
        t = _read_parquet(path, need).to_pydict()
        for r in range(len(t["episode_index"])):
            try:
                length = int(t["length"][r])
                data_file = root / info["data_path"].format(
                    chunk_index=int(t["data/chunk_index"][r]),
                    file_index=int(t["data/file_index"][r]),
                )
                video_file = None
                from_ts = to_ts = 0.0
                if not in_parquet:
                    video_file = root / info["video_path"].format(
                        video_key=video_key,
                        chunk_index=int(t[vcols[0]][r]),
                        file_index=int(t[vcols[1]][r]),
                    )
                    from_ts, to_ts = float(t[vcols[2]][r]), float(t[vcols[3]][r])
            except (TypeError, ValueError, KeyError, IndexError) as e:
                raise LogFormatError(f"{path}, row {r}: malformed episode entry ({e})") from e
            if length < 1 or to_ts < from_ts:
                raise LogFormatError(
                    f"{path}, row {r}: length {length}, video {from_ts}..{to_ts} s"
                )
            episodes.append(
                _Episode(
                    index=int(t["episode_index"][r]),
                    length=length,
                    data_file=data_file,
                    video_file=video_file,
                    from_ts=from_ts,
                    to_ts=to_ts,
                )
            )
    episodes.sort(key=lambda e: e.index)
    if len(episodes) != int(info["total_episodes"]):
        raise LogFormatError(
            f"{root / 'meta' / 'episodes'}: {len(episodes)} episodes listed, "
            f"info.json says total_episodes={info['total_episodes']}"
        )
    sidecar = None
    side_path = root / "meta" / "lnn_drive.json"
    if side_path.exists():
        sidecar = _load_json(side_path)
        if not (isinstance(sidecar, dict) and sidecar.get("format") == SIDECAR_FORMAT):
            raise LogFormatError(f"{side_path}: not an lnn_drive sidecar")
        if len(sidecar.get("episodes", [])) != len(episodes):
            raise LogFormatError(
                f"{side_path}: describes {len(sidecar.get('episodes', []))} episodes, the dataset has {len(episodes)}"
            )
    return LeRobotDataset(
        root=root, info=info, video_key=video_key, episodes=episodes, sidecar=sidecar
    )


def _signal_names(feature: str, spec: dict[str, Any]) -> list[str]:
    """Identifier signal names for a vector feature, from its ``names``."""
    n = int(spec["shape"][0])
    names = spec.get("names")
    if isinstance(names, dict):  # older datasets: {"motors": [...]}
        names = next(iter(names.values()), None)
    prefix = feature.split(".")[-1]
    if not (isinstance(names, list) and len(names) == n):
        return [f"{prefix}_{i}" for i in range(n)]
    out = []
    for nm in names:
        s = re.sub(r"\W", "_", str(nm))
        out.append(f"{prefix}_{s}" if not s.isidentifier() or s == "timestamp" else s)
    if len(set(out)) != n:
        out = [f"{prefix}_{i}" for i in range(n)]
    return out


def decode_episode(ds: LeRobotDataset, ep: _Episode) -> Iterator[np.ndarray]:
    """The frames of one episode as RGB uint8 (H, W, 3), from its slice of the video file.

    Raises:
        LogFormatError: the video is missing, unreadable, of another size, or holds fewer
            frames in the episode's time range than the episode's length (truncated).
    """
    av = _require("av")
    path = ep.video_file
    if not path.is_file():
        raise LogFormatError(f"{path}: missing video file for episode {ep.index}")
    want = ds.shape
    tol = 0.5 / ds.fps
    got = 0
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            if ep.from_ts > 0:
                container.seek(int(ep.from_ts / stream.time_base), stream=stream, backward=True)
            for frame in container.decode(stream):
                t = float(frame.pts * stream.time_base) if frame.pts is not None else math.nan
                if t < ep.from_ts - tol:
                    continue
                if got >= ep.length or t >= ep.to_ts - tol:
                    break
                rgb = frame.to_ndarray(format="rgb24")
                if rgb.shape[:2] != want:
                    raise LogFormatError(
                        f"{path}, frame at {t:.3f} s: size {rgb.shape[1]}x{rgb.shape[0]}, "
                        f"info.json says {want[1]}x{want[0]}"
                    )
                got += 1
                yield rgb
    except av.error.FFmpegError as e:
        raise LogFormatError(f"{path}: cannot decode video (corrupt or truncated? {e})") from e
    if got < ep.length:
        raise LogFormatError(
            f"{path}: episode {ep.index} has {ep.length} frames but the video holds {got} in "
            f"{ep.from_ts:.3f}..{ep.to_ts:.3f} s (truncated or corrupt video?)"
        )


def decode_images(ds: LeRobotDataset, ep: _Episode, column: Any) -> Iterator[np.ndarray]:
    """Frames of an episode whose images are stored in the data parquet (Hugging Face
    ``Image`` structs of ``bytes`` and ``path``), as RGB uint8 (H, W, 3).

    Raises:
        LogFormatError: an image that is missing, undecodable or of another size, naming
            the file, episode and frame.
    """
    import cv2

    want = ds.shape
    for j, item in enumerate(column.to_pylist()):
        where = f"{ep.data_file}: episode {ep.index}, frame {j}"
        data = item.get("bytes") if isinstance(item, dict) else item
        if data is None and isinstance(item, dict) and item.get("path"):
            p = Path(item["path"])
            p = p if p.is_absolute() else ds.root / p
            data = p.read_bytes() if p.is_file() else None
        if not isinstance(data, bytes | bytearray):
            raise LogFormatError(f"{where}: {ds.video_key} holds no image")
        bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        if bgr is None:
            raise LogFormatError(f"{where}: {ds.video_key} is not a decodable image")
        if bgr.shape[:2] != want:
            raise LogFormatError(
                f"{where}: image {bgr.shape[1]}x{bgr.shape[0]}, info.json says {want[1]}x{want[0]}"
            )
        yield cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def import_lerobot(cfg: LeRobotImportConfig) -> ImportSummary:
    """Convert a LeRobot v3.0 dataset into an lnn_drive dataset at ``cfg.out``.

    ``action`` and ``observation.state`` dimensions become signals named after the
    features' ``names``; with the lnn_drive sidecar the original signal names, units,
    timestamps and episode metadata come back exactly. Everything is written through
    :class:`LogWriter`, so a failure leaves nothing at ``cfg.out``.

    Raises:
        LogFormatError: naming the file (and row or frame) at fault.
    """
    ds = open_lerobot(cfg.root, cfg.camera)
    info_path = ds.root / "meta" / "info.json"
    features = ds.info["features"]
    vec_features = [f for f in ("action", "observation.state") if f in features]
    side = ds.sidecar
    if side is not None:
        names = {"action": list(side["action"]), "observation.state": list(side["state"])}
        units = dict(side["signals"])
    else:
        names = {f: _signal_names(f, features[f]) for f in vec_features}
        units = {s: "unknown" for f in vec_features for s in names[f]}
    signals = {s: units[s] for f in vec_features for s in names[f]}
    for f in vec_features:
        if len(names[f]) != int(features[f]["shape"][0]):
            raise LogFormatError(
                f"{info_path}: feature {f} has {features[f]['shape'][0]} dimensions, names {names[f]}"
            )
    if len(set(signals)) != sum(len(names[f]) for f in vec_features):
        raise LogFormatError(
            f"{info_path}: signal names collide: {[names[f] for f in vec_features]}"
        )
    wanted = ds.episodes
    if cfg.episodes is not None:
        known = {e.index for e in ds.episodes}
        bad = [i for i in cfg.episodes if i not in known]
        if bad:
            raise ValueError(f"episodes: {bad} not in the dataset (it has {sorted(known)})")
        wanted = [e for e in ds.episodes if e.index in set(cfg.episodes)]
    h, w = ds.shape
    cols = ["episode_index", "frame_index", "timestamp", *vec_features]
    if ds.images_in_parquet:
        cols.append(ds.video_key)
    frames = 0
    with LogWriter(
        cfg.out,
        height=h,
        width=w,
        fps=ds.fps,
        signals=signals,
        source=side["source"] if side else f"lerobot:{ds.root}",
        encoding=cfg.encoding,
        overwrite=cfg.overwrite,
        inputs=[ds.root],
        extra=(side or {}).get("extra", {})
        | {"lerobot": {"root": str(ds.root), "camera": ds.video_key}},
    ) as writer:
        for ep in wanted:
            table = ds.table(ep.data_file, cols)
            ep_col = np.asarray(table.column("episode_index").to_numpy(zero_copy_only=False))
            rows = np.flatnonzero(ep_col == ep.index)
            if len(rows) != ep.length:
                raise LogFormatError(
                    f"{ep.data_file}: {len(rows)} rows of episode {ep.index}, its metadata says {ep.length}"
                )
            sub = table.take(rows)
            order = np.argsort(np.asarray(sub.column("frame_index").to_numpy(zero_copy_only=False)))
            sub = sub.take(order)
            vec = {}
            for f in vec_features:
                col = sub.column(f).combine_chunks()
                try:
                    if hasattr(col, "flatten"):  # list column; a (1,) feature is a scalar one
                        col = col.flatten()
                    v = np.asarray(col.to_numpy(zero_copy_only=False), np.float64)
                    v = v.reshape(ep.length, -1)  # (n, D)
                except (ValueError, AttributeError) as e:
                    raise LogFormatError(
                        f"{ep.data_file}: column {f} is not a numeric vector ({e})"
                    ) from e
                if v.shape[1] != len(names[f]):
                    raise LogFormatError(
                        f"{ep.data_file}: column {f} has {v.shape[1]} values per row, info.json declares {len(names[f])}"
                    )
                bad = np.argwhere(~np.isfinite(v))
                if bad.size:
                    raise LogFormatError(
                        f"{ep.data_file}: episode {ep.index}, frame {bad[0][0]}: {f} is not finite"
                    )
                vec[f] = v
            pos = ds.episodes.index(ep)
            sep = side["episodes"][pos] if side else None
            if sep is not None and sep.get("timestamps") is not None:
                ts = np.asarray(sep["timestamps"], np.float64)
            elif sep is not None:
                ts = float(sep["t0"]) + np.arange(ep.length) / ds.fps
            else:
                ts = np.asarray(sub.column("timestamp").to_numpy(zero_copy_only=False), np.float64)
            if len(ts) != ep.length or np.any(np.diff(ts) <= 0):
                raise LogFormatError(
                    f"{ep.data_file}: episode {ep.index}: timestamps missing or not increasing"
                )
            meta = dict(sep["meta"]) if sep else {}
            meta.setdefault("lerobot_episode_index", ep.index)
            with writer.episode(meta=meta) as out_ep:
                frames_iter = (
                    decode_images(ds, ep, sub.column(ds.video_key))
                    if ds.images_in_parquet
                    else decode_episode(ds, ep)
                )
                for j, frame in enumerate(frames_iter):
                    out_ep.append(
                        frame,
                        timestamp=float(ts[j]),
                        **{
                            s: float(vec[f][j, k])
                            for f in vec_features
                            for k, s in enumerate(names[f])
                        },
                    )
            frames += ep.length
    return ImportSummary(
        out=Path(cfg.out).absolute(),
        episodes=len(wanted),
        frames=frames,
        notes=[] if side else ["no lnn_drive sidecar: units unknown, timestamps from the data"],
    )
