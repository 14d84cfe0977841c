"""From driving logs to training batches: windows, split, balancing, augmentation.

``build_datasets(cfg)`` turns the ``data`` config group into a :class:`DataSplit` of two
:class:`SequenceDataset` s; ``make_loader`` wraps one in a ``DataLoader``. A window is
``window`` consecutive frames of one episode (never crossing an episode boundary) with
their target signals. Frames are served as uint8 (B, T, 3, H, W): the model standardises
them (``Preprocess.standardise``) in its forward, exactly as in closed loop.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler, WeightedRandomSampler

from lnn_drive.data.augment import Augment, AugmentConfig, gather_windows
from lnn_drive.data.cache import FrameCache, load_or_build_cache
from lnn_drive.data.preprocess import Preprocess

log = logging.getLogger(__name__)


class SequenceDataset(Dataset):
    """Windows of consecutive frames with per-frame targets.

    Items are ``(frames, targets)``: uint8 tensor (T, 3, H, W) and float32 tensor (T, k).
    ``__getitems__`` fetches a whole batch at once (torch's DataLoader uses it), which is
    where augmentation is vectorised; randomness is drawn from a generator seeded by
    (seed, epoch, indices), so a batch is the same whichever worker or rank builds it.

    Args:
        caches: Frame caches the windows index into.
        windows: (M, 2) int64 rows of (cache index, first frame in that cache).
        targets: Per cache, (N_c, k) float32 target columns aligned with its frames.
        window: T, frames per window.
        target_names: Names of the k target columns.
        augment: Training-time augmentation, or ``None``.
        seed: Seed of the augmentation draws.
        sample_weights: (M,) weights for steering balancing, or ``None``.
    """

    def __init__(
        self,
        *,
        caches: Sequence[FrameCache],
        windows: np.ndarray,
        targets: Sequence[np.ndarray],
        window: int,
        target_names: Sequence[str],
        augment: Augment | None = None,
        seed: int = 0,
        sample_weights: np.ndarray | None = None,
    ) -> None:
        self.caches = list(caches)
        self.windows = np.asarray(windows, np.int64).reshape(-1, 2)
        self.targets = list(targets)
        self.window = int(window)
        self.target_names = list(target_names)
        self.augment = augment
        self.seed = int(seed)
        self.epoch = 0
        self.sample_weights = sample_weights

    def __len__(self) -> int:
        return len(self.windows)

    def set_epoch(self, epoch: int) -> None:
        """Make the next epoch's augmentation draws differ from the last one's."""
        self.epoch = int(epoch)

    def window_targets(self) -> np.ndarray:
        """All windows' targets, (M, T, k) float32, without augmentation."""
        t = np.arange(self.window)
        out = np.empty((len(self), self.window, len(self.target_names)), np.float32)
        for c, tg in enumerate(self.targets):
            sel = self.windows[:, 0] == c
            out[sel] = tg[self.windows[sel, 1][:, None] + t]  # (m, T, k)
        return out

    def get_batch(self, indices: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
        """Frames uint8 (B, T, 3, H, W) and targets float32 (B, T, k) for ``indices``."""
        idx = np.asarray(indices, np.int64)
        if idx.size and (idx.min() < -len(self) or idx.max() >= len(self)):
            raise IndexError(f"window index out of range for {len(self)} windows")
        rows = self.windows[idx]
        b, t = len(rows), self.window
        aug = None
        if self.augment is not None and b:
            rng = np.random.default_rng([self.seed, self.epoch, *(int(i) % 2**32 for i in idx)])
            aug = self.augment.draw(rng, b)
        first = self.caches[0].frames
        frames = np.empty((b, t, *first.shape[1:]), np.uint8)
        targets = np.empty((b, t, len(self.target_names)), np.float32)
        for c in np.unique(rows[:, 0]) if b else []:
            sel = np.flatnonzero(rows[:, 0] == c)
            starts = rows[sel, 1]
            frames[sel] = gather_windows(
                self.caches[c].frames, starts, t, None if aug is None else aug.shift[sel]
            )
            targets[sel] = self.targets[c][starts[:, None] + np.arange(t)]  # (m, T, k)
        if aug is not None:
            self.augment.photometric(frames, aug)
            self.augment.correct_targets(targets, aug)
        return torch.from_numpy(frames), torch.from_numpy(targets)

    def __getitems__(self, indices: Sequence[int]) -> list[tuple[torch.Tensor, torch.Tensor]]:
        frames, targets = self.get_batch(indices)
        return list(zip(frames, targets, strict=True))

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        frames, targets = self.get_batch([i])
        return frames[0], targets[0]


@dataclass(frozen=True, kw_only=True)
class DataSplit:
    """Training and validation datasets plus what a model must remember about them.

    Attributes:
        train, val: Windows of disjoint episode groups.
        preprocess: Geometry + standardisation, bound to the camera size.
        targets: Target signal names (k of them).
        units: Target name -> unit.
        target_mean, target_std: (k,) statistics over training frames.
        report: Counts of what was kept and dropped, for logs and notes.
    """

    train: SequenceDataset
    val: SequenceDataset
    preprocess: Preprocess
    targets: list[str]
    units: dict[str, str]
    target_mean: np.ndarray
    target_std: np.ndarray
    report: dict[str, Any] = field(default_factory=dict)


def default_cache_dir() -> str:
    """``$LNN_DRIVE_CACHE``, else ``~/.cache/lnn_drive`` (decode-once frame caches)."""
    return os.environ.get("LNN_DRIVE_CACHE", f"{os.environ.get('HOME', '/tmp')}/.cache/lnn_drive")


def _sample_root() -> str:
    from lnn_drive import PROJECT_ROOT

    return str(PROJECT_ROOT / "data" / "sample")


@dataclass(frozen=True, kw_only=True)
class BalanceConfig:
    """Steering-histogram balancing: sharp bends are rare in logs and are where policies
    crash. ``bins``: histogram bins over the steering range."""

    enabled: bool = True
    bins: int = 21

    def __post_init__(self) -> None:
        if self.bins < 2:
            raise ValueError(f"data.balance.bins must be >= 2, got {self.bins}")


@dataclass(frozen=True, kw_only=True)
class DedupConfig:
    """Dropping windows of a car standing still.

    Attributes:
        enabled: Drop such windows.
        threshold: Mean |frame difference| (0..255) under which a frame counts as still.
        max_fraction: Drop windows with more still frames than this share.
    """

    enabled: bool = False
    threshold: float = 0.5
    max_fraction: float = 0.5


@dataclass(frozen=True, kw_only=True)
class DataConfig:
    """Driving logs -> training windows (the ``data`` config group; these are its defaults).

    Attributes:
        roots: Dataset folders.
        targets: Target signal names (k).
        window: Frames per training sequence (NCP paper: 16).
        stride: Frames between consecutive window starts.
        val_fraction: Share of episode groups held out for validation.
        split_seed: Seed of the train/validation split.
        seed: Seed of the augmentation draws.
        batch_size: Windows per step (and rank) for :func:`make_loader` users.
        num_workers: DataLoader workers.
        cache_dir: Parent folder of the decode-once frame caches.
        preprocess: Geometry (model input size, crops).
        augment: Training-time augmentation.
        balance: Steering-histogram balancing.
        dedup: Dropping still windows.
    """

    roots: tuple[str, ...] = field(default_factory=lambda: (_sample_root(),))
    targets: tuple[str, ...] = ("steering",)
    window: int = 16
    stride: int = 4
    val_fraction: float = 0.2
    split_seed: int = 0
    seed: int = 0
    batch_size: int = 8
    num_workers: int = 0
    cache_dir: str = field(default_factory=default_cache_dir)
    preprocess: Preprocess = field(default_factory=Preprocess)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    balance: BalanceConfig = field(default_factory=BalanceConfig)
    dedup: DedupConfig = field(default_factory=DedupConfig)

    def __post_init__(self) -> None:
        object.__setattr__(self, "roots", tuple(str(r) for r in self.roots))
        object.__setattr__(self, "targets", tuple(str(t) for t in self.targets))
        if not self.roots:
            raise ValueError("data.roots: no dataset given")
        if not self.targets:
            raise ValueError("data.targets: at least one target signal is needed")
        if self.window < 1:
            raise ValueError(f"data.window must be >= 1, got {self.window}")
        if self.stride < 1:
            raise ValueError(f"data.stride must be >= 1, got {self.stride}")
        if not 0 <= self.val_fraction < 1:
            raise ValueError(f"data.val_fraction must be in [0, 1), got {self.val_fraction}")
        if self.batch_size < 1:
            raise ValueError(f"data.batch_size must be >= 1, got {self.batch_size}")

    @classmethod
    def from_mapping(cls, d: Mapping[str, Any]) -> DataConfig:
        """From plain data (nested mappings for ``preprocess``, ``augment``, ...); unknown
        keys raise ``ValueError`` naming them."""
        d = dict(d)
        sub = {"preprocess": Preprocess, "augment": AugmentConfig, "balance": BalanceConfig}
        sub["dedup"] = DedupConfig
        names = set(cls.__dataclass_fields__)
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"unknown data option(s) {unknown}; valid: {sorted(names)}")
        for k, c in sub.items():
            v = d.get(k)
            if isinstance(v, Mapping):
                bad = sorted(set(v) - set(c.__dataclass_fields__))
                if bad:
                    raise ValueError(f"unknown data.{k} option(s) {bad}")
                d[k] = AugmentConfig.from_config(v) if c is AugmentConfig else c(**v)
        return cls(**d)


def _load_caches(cfg: DataConfig, progress: bool) -> tuple[list[FrameCache], dict[str, str]]:
    """Decode-once caches of every root (one camera size) and the targets' units (one unit
    per target across datasets)."""
    caches = [
        load_or_build_cache(
            r,
            cfg.preprocess,
            cfg.cache_dir,
            still_threshold=cfg.dedup.threshold,
            progress=progress,
        )
        for r in cfg.roots
    ]
    camera = {(c.log.meta.height, c.log.meta.width) for c in caches}
    if len(camera) > 1:
        raise ValueError(
            f"data.roots: datasets have different camera sizes {sorted(camera)}; use one size"
        )
    units: dict[str, str] = {}
    for c in caches:
        for name in cfg.targets:
            if name not in c.log.meta.signals:
                raise ValueError(
                    f"{c.log.root}: has no signal {name!r} (signals: {c.log.meta.signal_names}); check data.targets"
                )
            unit = c.log.meta.signals[name]
            if units.setdefault(name, unit) != unit:
                raise ValueError(
                    f"{c.log.root}: signal {name!r} is in {unit}, other datasets use {units[name]}"
                )
    return caches, units


def _validation_groups(caches: Sequence[FrameCache], cfg: DataConfig) -> set[tuple[int, str]]:
    """(cache index, episode group) pairs held out: by group (e.g. all cameras of one
    drive), so no drive is in both sets."""
    groups = sorted({(ci, e.info.group) for ci, c in enumerate(caches) for e in c.episodes})
    order = np.random.default_rng(cfg.split_seed).permutation(len(groups))
    val_fraction = cfg.val_fraction
    n_val = int(np.ceil(val_fraction * len(groups))) if val_fraction > 0 else 0
    if val_fraction > 0 and len(groups) < 2:
        raise ValueError(
            f"data.val_fraction={val_fraction} needs at least 2 episode groups to split by episode, "
            f"found {len(groups)}; add episodes or set data.val_fraction=0"
        )
    return {groups[i] for i in order[:n_val]}


def _window_rows(
    caches: Sequence[FrameCache], val_groups: set[tuple[int, str]], cfg: DataConfig
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """(M, 2) rows of (cache, first frame) for training and validation windows, and the
    counts of what was kept and dropped."""
    window, stride = cfg.window, cfg.stride
    rows: dict[str, list[tuple[int, int]]] = {"train": [], "val": []}
    report = {"episodes": 0, "too_short": 0, "windows_dropped_still": 0, "episodes_val": 0}
    for ci, c in enumerate(caches):
        for e in c.episodes:
            report["episodes"] += 1
            split = "val" if (ci, e.info.group) in val_groups else "train"
            report["episodes_val"] += split == "val"
            if e.length < window:
                report["too_short"] += 1
                continue
            starts = np.arange(0, e.length - window + 1, stride)
            if cfg.dedup.enabled:
                cum = np.concatenate([[0], np.cumsum(e.still)])
                frac = (cum[starts + window] - cum[starts]) / window
                keep = frac <= cfg.dedup.max_fraction
                report["windows_dropped_still"] += int((~keep).sum())
                starts = starts[keep]
            rows[split].extend((ci, e.start + int(s)) for s in starts)
    if report["too_short"]:
        log.warning(
            "%d of %d episodes are shorter than the window (%d frames) and give no windows",
            report["too_short"],
            report["episodes"],
            window,
        )
    if report["windows_dropped_still"]:
        log.info(
            "dropped %d near-duplicate windows (car standing still)",
            report["windows_dropped_still"],
        )
    if not rows["train"]:
        raise ValueError(
            f"no training windows: {report['episodes']} episodes, window={window}; "
            "use shorter windows or more data"
        )
    train = np.array(rows["train"], np.int64)
    val = np.array(rows["val"], np.int64).reshape(-1, 2)
    return train, val, report


def _target_stats(
    targets: Sequence[np.ndarray], train_rows: np.ndarray, window: int
) -> tuple[np.ndarray, np.ndarray]:
    """(k,) mean and std over the frames the training windows cover."""
    covered = [np.zeros(len(t), bool) for t in targets]
    for ci, s in train_rows:
        covered[ci][s : s + window] = True
    train_y = np.concatenate([t[m] for t, m in zip(targets, covered, strict=True)])
    return train_y.mean(axis=0), np.maximum(train_y.std(axis=0), 1e-6)


def build_datasets(cfg: DataConfig | Mapping[str, Any], *, progress: bool = False) -> DataSplit:
    """Build the train/validation split: caches, split by group, windows, target
    statistics, augmentation and balancing.

    Args:
        cfg: A :class:`DataConfig`, or a mapping of its fields (the rest default).
        progress: Show cache-building progress.

    Raises:
        ValueError: naming the config key or dataset at fault.
    """
    if not isinstance(cfg, DataConfig):
        cfg = DataConfig.from_mapping(cfg)
    target_names = list(cfg.targets)
    caches, units = _load_caches(cfg, progress)
    h, w = caches[0].log.meta.height, caches[0].log.meta.width
    preprocess = cfg.preprocess.with_input(h, w)
    val_groups = _validation_groups(caches, cfg)
    targets = [
        np.stack(
            [np.concatenate([e.signals[n] for e in c.episodes]) for n in target_names], axis=1
        ).astype(np.float32)
        for c in caches
    ]  # per cache (N_c, k)
    train_rows, val_rows, report = _window_rows(caches, val_groups, cfg)
    mean, std = _target_stats(targets, train_rows, cfg.window)
    augment = (
        Augment(
            cfg.augment,
            window_shape=(cfg.window, *preprocess.output_shape),
            target_names=target_names,
            seed=cfg.seed,
        )
        if cfg.augment.enabled
        else None
    )
    common = dict(caches=caches, targets=targets, window=cfg.window, target_names=target_names)
    train = SequenceDataset(windows=train_rows, augment=augment, seed=cfg.seed, **common)
    val = SequenceDataset(windows=val_rows, augment=None, seed=cfg.seed, **common)
    if cfg.balance.enabled:
        train.sample_weights = steering_balance_weights(
            train.window_targets()[:, :, 0].mean(axis=1), bins=cfg.balance.bins
        )
    report.update(windows_train=len(train), windows_val=len(val))
    return DataSplit(
        train=train,
        val=val,
        preprocess=preprocess,
        targets=target_names,
        units=units,
        target_mean=mean,
        target_std=std,
        report=report,
    )


def steering_balance_weights(values: np.ndarray, *, bins: int = 21) -> np.ndarray:
    """Per-sample weights flattening the histogram of ``values`` (e.g. mean steering of
    each window), normalised to mean 1: rare sharp turns are drawn as often as straights.

    Args:
        values: (M,) one value per window.
        bins: Histogram bins over the value range.
    """
    values = np.asarray(values, np.float64)
    if values.size == 0:
        return np.zeros(0)
    lo, hi = values.min(), values.max()
    if hi <= lo:
        return np.ones_like(values)
    which = np.clip(((values - lo) / (hi - lo) * bins).astype(int), 0, bins - 1)
    counts = np.bincount(which, minlength=bins)
    wts = 1.0 / counts[which]
    return wts / wts.mean()


def _collate(batch: list[tuple[torch.Tensor, torch.Tensor]]) -> tuple[torch.Tensor, torch.Tensor]:
    frames, targets = zip(*batch, strict=True)
    return torch.stack(frames), torch.stack(targets)


def make_loader(
    ds: SequenceDataset,
    *,
    batch_size: int,
    shuffle: bool,
    seed: int = 0,
    num_workers: int = 0,
    sampler: Sampler | None = None,
    drop_last: bool = False,
) -> DataLoader:
    """A DataLoader yielding (frames uint8 (B, T, 3, H, W), targets float32 (B, T, k)).

    With ``shuffle`` and ``ds.sample_weights`` set, windows are drawn by weight (steering
    balancing). Pass ``sampler`` (e.g. a ``DistributedSampler``) to take over ordering.
    """
    if sampler is None and shuffle:
        gen = torch.Generator().manual_seed(seed)
        if ds.sample_weights is not None:
            sampler = WeightedRandomSampler(
                torch.as_tensor(ds.sample_weights, dtype=torch.double),
                len(ds),
                replacement=True,
                generator=gen,
            )
        else:
            sampler = torch.utils.data.RandomSampler(ds, generator=gen)
    return DataLoader(
        ds,
        batch_size=batch_size,
        shuffle=False,
        sampler=sampler,
        num_workers=num_workers,
        collate_fn=_collate,
        drop_last=drop_last,
        persistent_workers=num_workers > 0,
    )
