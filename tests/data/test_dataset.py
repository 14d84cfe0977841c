"""Windows, split, cache, augmentation, balancing and dedup of the training pipeline."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lnn_drive.data import (
    AugmentConfig,
    DrivingLog,
    Preprocess,
    build_datasets,
    make_loader,
    steering_balance_weights,
)
from lnn_drive.data.augment import Augment, gather_windows


def _cfg(roots, tmp_path: Path, **kw):
    base = dict(
        roots=[str(r) for r in roots],
        targets=["steering"],
        window=8,
        stride=3,
        val_fraction=0.34,
        cache_dir=str(tmp_path / "cache"),
        augment={"enabled": False},
    )
    base.update(kw)
    return base


def test_windows_match_the_log_and_never_cross_episodes(make_dataset, tmp_path: Path) -> None:
    root = make_dataset((40, 30, 50))
    split = build_datasets(_cfg([root], tmp_path))
    d = DrivingLog(root)
    raw = {e.info.name if hasattr(e, "info") else e.name: d.frames(e) for e in d.episodes}
    pre = Preprocess().with_input(78, 200)
    for ds in (split.train, split.val):
        for i in range(len(ds)):
            frames, y = ds[i]
            ep = int(np.floor(y[0, 0].item()))  # steering = episode + j/1000
            j = np.rint((y[:, 0].numpy() - ep) * 1000).astype(int)
            np.testing.assert_array_equal(np.diff(j), 1)  # consecutive, same episode
            assert np.all(np.floor(y[:, 0].numpy() + 1e-9) == ep)
            np.testing.assert_array_equal(
                frames[3].numpy(), pre.geometry(raw[f"ep_{ep:05d}"][j[3]])
            )
    assert split.report["windows_train"] + split.report["windows_val"] == sum(
        len(range(0, n - 8 + 1, 3)) for n in (40, 30, 50)
    )


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    lengths=st.lists(st.integers(1, 30), min_size=2, max_size=5),
    window=st.integers(1, 12),
    stride=st.integers(1, 5),
)
def test_window_index_property(lengths, window, stride, make_dataset, tmp_path: Path) -> None:
    # Reuse one dataset per length tuple to keep the property test fast.
    name = "p" + "_".join(map(str, lengths))
    root = tmp_path / name
    if not root.exists():
        make_dataset(tuple(lengths), name=name, h=8, w=16)
    if max(lengths) < window:
        with pytest.raises(ValueError, match="no training windows|validation"):
            build_datasets(_cfg([root], tmp_path, window=window, stride=stride, val_fraction=0.0))
        return
    split = build_datasets(
        _cfg(
            [root],
            tmp_path,
            window=window,
            stride=stride,
            val_fraction=0.0,
            preprocess={"height": 8, "width": 16},
        )
    )
    starts = np.cumsum([0, *lengths])
    for _, s in split.train.windows:
        e = np.searchsorted(starts, s, side="right") - 1
        assert s + window <= starts[e + 1], "window crosses an episode boundary"
    expected = sum(len(range(0, n - window + 1, stride)) for n in lengths if n >= window)
    assert len(split.train) == expected


def test_split_is_by_group_and_reproducible(make_dataset, tmp_path: Path) -> None:
    root = make_dataset((20,) * 6, groups=("a", "a", "b", "b", "c", "c"))
    s1 = build_datasets(_cfg([root], tmp_path, val_fraction=0.3))
    s2 = build_datasets(_cfg([root], tmp_path, val_fraction=0.3))
    np.testing.assert_array_equal(s1.val.windows, s2.val.windows)

    def episodes(ds):
        return {int(np.floor(ds[i][1][0, 0].item())) for i in range(len(ds))}

    tr, va = episodes(s1.train), episodes(s1.val)
    assert not tr & va
    assert {e // 2 for e in va}.isdisjoint({e // 2 for e in tr})  # both cameras of a group together
    assert len(va) == 2


def test_split_needs_two_groups(make_dataset, tmp_path: Path) -> None:
    root = make_dataset((30,))
    with pytest.raises(ValueError, match="at least 2 episode groups"):
        build_datasets(_cfg([root], tmp_path))
    assert len(build_datasets(_cfg([root], tmp_path, val_fraction=0.0)).val) == 0


def test_target_statistics_and_config_errors(make_dataset, tmp_path: Path) -> None:
    root = make_dataset((20, 20))
    split = build_datasets(_cfg([root], tmp_path, val_fraction=0.0, window=20, stride=20))
    y = np.concatenate([e + np.arange(20) / 1000 for e in range(2)])
    np.testing.assert_allclose(split.target_mean, [y.mean()], rtol=1e-5)
    np.testing.assert_allclose(split.target_std, [y.std()], rtol=1e-4)
    assert split.units == {"steering": "1/m"}
    with pytest.raises(ValueError, match="no signal 'yaw_rate'"):
        build_datasets(_cfg([root], tmp_path, targets=["yaw_rate"]))
    with pytest.raises(ValueError, match="data.window"):
        build_datasets(_cfg([root], tmp_path, window=0))


def test_cache_is_built_once_and_invalidated_by_changes(make_dataset, tmp_path: Path) -> None:
    root = make_dataset((20, 20))
    build_datasets(_cfg([root], tmp_path))
    caches = list((tmp_path / "cache").iterdir())
    assert len(caches) == 1 and (caches[0] / "frames.npy").is_file()
    mtime = (caches[0] / "frames.npy").stat().st_mtime_ns
    split = build_datasets(_cfg([root], tmp_path))
    assert (caches[0] / "frames.npy").stat().st_mtime_ns == mtime
    assert isinstance(split.train.caches[0].frames, np.memmap)
    build_datasets(_cfg([root], tmp_path, preprocess={"crop_top": 10}))
    assert len(list((tmp_path / "cache").iterdir())) == 2
    import shutil

    shutil.rmtree(root)
    make_dataset((20, 25))  # same path, new content
    split = build_datasets(_cfg([root], tmp_path))
    assert len(list((tmp_path / "cache").iterdir())) == 3
    assert split.train.caches[0].frames.shape[0] == 45


def test_bad_episode_fails_cache_build_without_leaving_a_cache(
    make_dataset, tmp_path: Path
) -> None:
    from lnn_drive.data import LogFormatError

    root = make_dataset((20, 20))
    video = root / "episodes" / "ep_00001" / "frames.mkv"
    video.write_bytes(video.read_bytes()[:500])
    with pytest.raises(LogFormatError, match="ep_00001"):
        build_datasets(_cfg([root], tmp_path))
    # no complete cache (one with its index) may be left for the broken dataset
    cache = tmp_path / "cache"
    assert not cache.exists() or not any((p / "index.json").exists() for p in cache.iterdir())


def test_augmentation_is_deterministic_and_shift_corrects_steering(
    make_dataset, tmp_path: Path
) -> None:
    root = make_dataset((40, 40))
    aug = {"enabled": True, "shift_prob": 1.0, "shift_max_px": 10, "shift_correction_per_px": 0.001}
    split = build_datasets(_cfg([root], tmp_path, val_fraction=0.0, augment=aug))
    plain = build_datasets(_cfg([root], tmp_path, val_fraction=0.0))
    ds = split.train
    f1, y1 = ds.get_batch([0, 3, 5])
    f2, y2 = ds.get_batch([0, 3, 5])
    assert torch.equal(f1, f2) and torch.equal(y1, y2)
    ds.set_epoch(1)
    f3, _ = ds.get_batch([0, 3, 5])
    assert not torch.equal(f1, f3)
    _, y0 = plain.train.get_batch([0, 3, 5])
    corr = (y1 - y0)[:, :, 0].numpy() / -0.001  # = shift in px, constant within a window
    np.testing.assert_allclose(corr, np.rint(corr[:, :1]).repeat(8, 1), atol=1e-2)
    assert 0 < np.abs(corr).max() <= 10 + 1e-3


def test_gather_windows_shift_moves_content() -> None:
    frames = np.arange(2 * 3 * 2 * 6, dtype=np.uint8).reshape(2, 3, 2, 6)
    out = gather_windows(frames, np.array([0, 0, 0]), 2, np.array([2, -2, 0]))
    np.testing.assert_array_equal(out[0, ..., 2:], frames[..., :4])
    np.testing.assert_array_equal(out[0, ..., :2], frames[..., :1].repeat(2, -1))  # edge repeated
    np.testing.assert_array_equal(out[1, ..., :4], frames[..., 2:])
    np.testing.assert_array_equal(out[2], frames)


def test_photometric_augmentation_changes_pixels_within_bounds() -> None:
    cfg = AugmentConfig(shadow_prob=1.0, noise_prob=1.0, noise_std=8, brightness=0, contrast=0)
    a = Augment(cfg, window_shape=(4, 3, 10, 20), target_names=["steering"], seed=0)
    frames = np.full((2, 4, 3, 10, 20), 128, np.uint8)
    params = a.draw(np.random.default_rng(0), 2)
    a.photometric(frames, params)
    shaded = np.stack([params.shadow[i] for i in range(2)])[:, None, None]  # (2, 1, 1, 10, 20)
    inside = frames[np.broadcast_to(shaded, frames.shape)].astype(float)
    outside = frames[~np.broadcast_to(shaded, frames.shape)].astype(float)
    assert inside.mean() < 110 and abs(outside.mean() - 128) < 2  # darker shadow, zero-mean noise
    assert 1 < outside.std() < 9


def test_balance_weights_flatten_the_histogram() -> None:
    rng = np.random.default_rng(0)
    v = np.concatenate([rng.normal(0, 0.01, 900), rng.uniform(-0.2, 0.2, 100)])
    w = steering_balance_weights(v, bins=10)
    hist_w = np.histogram(v, bins=10, weights=w)[0]
    hist = np.histogram(v, bins=10)[0]
    assert hist_w[hist > 0].std() / hist_w[hist > 0].mean() < 0.05 < hist.std() / hist.mean()
    assert w.mean() == pytest.approx(1.0)


def test_balanced_loader_draws_rare_windows_more(make_dataset, tmp_path: Path) -> None:
    root = make_dataset((60, 20, 20))
    split = build_datasets(
        _cfg([root], tmp_path, val_fraction=0.0, stride=1, balance={"enabled": True, "bins": 3})
    )
    assert split.train.sample_weights is not None
    loader = make_loader(split.train, batch_size=16, shuffle=True, seed=0)
    seen = torch.cat([y[:, 0, 0] for _, y in loader]).floor()
    share0 = (seen == 0).float().mean().item()
    assert share0 < 0.5  # episode 0 has 53 of 79 windows (67%) but one of three steering bins


def test_dedup_drops_windows_of_a_standing_car(make_dataset, tmp_path: Path) -> None:
    root = make_dataset((40, 40), still_from=20)
    kept = build_datasets(_cfg([root], tmp_path, val_fraction=0.0, stride=1))
    dd = build_datasets(
        _cfg(
            [root],
            tmp_path,
            val_fraction=0.0,
            stride=1,
            dedup={"enabled": True, "threshold": 0.5, "max_fraction": 0.5},
        )
    )
    assert dd.report["windows_dropped_still"] > 0
    assert len(dd.train) == len(kept.train) - dd.report["windows_dropped_still"]
    last_frame = max(
        int(np.rint((dd.train[i][1][0, 0].item() % 1) * 1000)) for i in range(len(dd.train))
    )
    assert last_frame <= 16  # windows starting >4 frames into the still part are gone


def test_loader_batches_match_get_batch(make_dataset, tmp_path: Path) -> None:
    root = make_dataset((30, 30))
    split = build_datasets(_cfg([root], tmp_path, val_fraction=0.0))
    loader = make_loader(split.train, batch_size=4, shuffle=False)
    frames, y = next(iter(loader))
    f_ref, y_ref = split.train.get_batch([0, 1, 2, 3])
    assert frames.dtype == torch.uint8 and frames.shape == (4, 8, 3, 78, 200)
    assert torch.equal(frames, f_ref) and torch.equal(y, y_ref)
