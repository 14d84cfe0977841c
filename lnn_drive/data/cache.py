"""Decode-once frame cache: every frame of a dataset, preprocessed, in one uint8 memory map.

Decoding FFV1/MPEG-4 costs far more than a training step's data needs, so each dataset is
decoded once per preprocessing and stored as ``frames.npy`` of shape (N, 3, H, W) uint8,
opened with ``mmap_mode="r"``: epochs, workers and DDP ranks share the page cache instead
of re-decoding. The cache key hashes the preprocessing and the dataset's files (names,
sizes, modification times), so an edited dataset is never served stale frames.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lnn_drive.data.log import DrivingLog, EpisodeInfo
from lnn_drive.data.preprocess import Preprocess

log = logging.getLogger(__name__)

CACHE_VERSION = 1


@dataclass(frozen=True, kw_only=True)
class CachedEpisode:
    """Where one episode lives in the cache.

    Attributes:
        info: The episode as the log describes it.
        start: Index of its first frame in ``FrameCache.frames``.
        signals: Column -> (num_frames,) float64, ``timestamp`` included.
        still: (num_frames,) bool, frame nearly identical to the previous one.
    """

    info: EpisodeInfo
    start: int
    signals: dict[str, np.ndarray]
    still: np.ndarray

    @property
    def length(self) -> int:
        return self.info.num_frames


@dataclass(frozen=True, kw_only=True)
class FrameCache:
    """One dataset's preprocessed frames and signals.

    Attributes:
        log: The dataset.
        frames: (N, 3, H, W) uint8 memory map, episodes concatenated.
        episodes: Episodes in order, with their offsets.
        path: Cache folder.
    """

    log: DrivingLog
    frames: np.ndarray
    episodes: list[CachedEpisode]
    path: Path


def _fingerprint(dlog: DrivingLog, preprocess: Preprocess) -> str:
    h = hashlib.sha256()
    h.update(
        json.dumps({"v": CACHE_VERSION, "pre": preprocess.to_config()}, sort_keys=True).encode()
    )
    h.update(str(dlog.root).encode())
    for p in [dlog.root / "dataset.json"] + [
        f for ep in dlog.episodes for f in sorted(ep.path.iterdir())
    ]:
        st = p.stat()
        h.update(f"{p.relative_to(dlog.root)}:{st.st_size}:{st.st_mtime_ns}".encode())
    return h.hexdigest()[:20]


def load_or_build_cache(
    root: str | os.PathLike[str],
    preprocess: Preprocess,
    cache_dir: str | os.PathLike[str],
    *,
    still_threshold: float = 0.5,
    progress: bool = False,
) -> FrameCache:
    """Open the cache of ``root`` under ``preprocess``, decoding the dataset if needed.

    Decoding validates every episode (signals, frame count, image shape); a fault raises
    :class:`~lnn_drive.data.log.LogFormatError` and leaves no cache behind.

    Args:
        root: Dataset folder.
        preprocess: Geometry applied before caching (bound to the camera size here).
        cache_dir: Parent folder of all caches.
        still_threshold: Frame-difference threshold for near-duplicate detection.
        progress: Show a tqdm bar while decoding.
    """
    dlog = DrivingLog(root)
    pre = preprocess.with_input(dlog.meta.height, dlog.meta.width)
    key = _fingerprint(dlog, pre)
    folder = Path(cache_dir).expanduser().absolute() / f"{dlog.root.name}-{key}"
    index_path = folder / "index.json"
    if not index_path.is_file():
        _build(dlog, pre, folder, progress=progress)
    index = json.loads(index_path.read_text())
    frames = np.load(folder / "frames.npy", mmap_mode="r")
    sig = np.load(folder / "signals.npz")
    diffs = np.load(folder / "diffs.npy")
    episodes = []
    for ep, e in zip(dlog.episodes, index["episodes"], strict=True):
        s, n = e["start"], e["length"]
        signals = {name: sig[name][s : s + n] for name in sig.files}
        still = np.concatenate([[False], diffs[s + 1 : s + n] < still_threshold])
        episodes.append(CachedEpisode(info=ep, start=s, signals=signals, still=still))
    return FrameCache(log=dlog, frames=frames, episodes=episodes, path=folder)


def _build(dlog: DrivingLog, pre: Preprocess, folder: Path, *, progress: bool) -> None:
    from tqdm import tqdm

    tmp = folder.with_name(f".{folder.name}.{uuid.uuid4().hex[:8]}.tmp")
    tmp.mkdir(parents=True)
    try:
        n = dlog.num_frames
        frames = np.lib.format.open_memmap(
            tmp / "frames.npy", mode="w+", dtype=np.uint8, shape=(n, *pre.output_shape)
        )
        columns: dict[str, list[np.ndarray]] = {}
        entries = []
        diffs = np.zeros(n, np.float32)
        pos = 0
        bar = tqdm(total=n, desc=f"caching {dlog.root.name}", unit="frame", disable=not progress)
        for ep in dlog.episodes:
            signals = dlog.signals(ep)
            for i, f in enumerate(dlog.iter_frames(ep)):
                frames[pos + i] = pre.geometry(f)
            bar.update(ep.num_frames)
            block = frames[pos : pos + ep.num_frames]
            sub = block[:, :, ::4, ::4].astype(np.int16)
            diffs[pos + 1 : pos + ep.num_frames] = np.abs(sub[1:] - sub[:-1]).mean(axis=(1, 2, 3))
            for k, v in signals.items():
                columns.setdefault(k, []).append(v)
            entries.append({"name": ep.name, "start": pos, "length": ep.num_frames})
            pos += ep.num_frames
        bar.close()
        frames.flush()
        del frames
        np.savez(tmp / "signals.npz", **{k: np.concatenate(v) for k, v in columns.items()})
        np.save(tmp / "diffs.npy", diffs)
        (tmp / "index.json").write_text(
            json.dumps(
                {"version": CACHE_VERSION, "preprocess": pre.to_config(), "episodes": entries}
            )
        )
        try:
            os.replace(tmp, folder)
        except OSError:
            if not (folder / "index.json").is_file():
                raise
            shutil.rmtree(tmp)  # another process (e.g. a DDP rank) built it first: keep theirs
        log.info("cached %d frames of %s in %s", n, dlog.root, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
