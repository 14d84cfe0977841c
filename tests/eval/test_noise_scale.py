"""The two frame-noise scales: the paper's variance on [0, 1] and signal-to-noise matched."""

from __future__ import annotations

import numpy as np
import pytest

from lnn_drive.eval.evaluate import EvalConfig, conditions
from lnn_drive.eval.wrappers import add_frame_noise


def _frame(contrast: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    return (128 + rng.integers(-contrast, contrast + 1, (40, 60, 3))).astype(np.uint8)


def _added_std(frame: np.ndarray, std: float, relative: bool) -> float:
    noisy = add_frame_noise(frame, std, np.random.default_rng(1), relative=relative)
    return float((noisy.astype(np.float64) - frame).std() / 255.0)


def test_unit_noise_ignores_contrast_and_snr_noise_follows_it() -> None:
    low, high = _frame(5), _frame(60)
    std = float(np.sqrt(0.01))
    assert _added_std(low, std, False) == pytest.approx(_added_std(high, std, False), rel=0.05)
    ratio = _added_std(high, std, True) / _added_std(low, std, True)
    want = (high / 255.0).std() / (low / 255.0).std()
    assert ratio == pytest.approx(want, rel=0.1)
    # snr: the added noise is sqrt(variance) x the frame's own pixel std
    assert _added_std(high, 0.5, True) == pytest.approx(0.5 * (high / 255.0).std(), rel=0.05)
    flat = np.full((8, 8, 3), 100, np.uint8)
    assert np.array_equal(add_frame_noise(flat, 0.5, np.random.default_rng(0), relative=True), flat)


def test_snr_noise_is_per_frame_in_a_batch() -> None:
    batch = np.stack([_frame(5), _frame(60)])
    noisy = add_frame_noise(batch, 0.5, np.random.default_rng(0), relative=True)
    added = (noisy.astype(np.float64) - batch).reshape(2, -1).std(axis=1)
    assert added[1] > 5 * added[0]
    with pytest.raises(ValueError, match="snr noise"):
        add_frame_noise(np.zeros((4, 4), np.uint8), 0.1, np.random.default_rng(0), relative=True)


def test_eval_config_noise_scales_give_both_condition_sets() -> None:
    ecfg = EvalConfig(noise_variances=[0.1, 0.2], noise_scales=["unit", "snr"])
    names = [c.name for c in conditions("summer", ecfg)]
    assert names == ["clean", "noise=0.1", "noise=0.2", "snr=0.1", "snr=0.2"]
    assert [c.noise_scale for c in conditions("summer", ecfg)][-1] == "snr"
    assert [c.name for c in conditions("summer", EvalConfig(noise_variances=[0.1]))] == [
        "clean",
        "noise=0.1",
    ]
    with pytest.raises(ValueError, match="eval.noise_scales"):
        EvalConfig(noise_scales=["pixels"])
    with pytest.raises(ValueError, match="eval.noise_scales"):
        EvalConfig(noise_scales=[])
    assert EvalConfig.from_mapping({"noise_scales": ["snr"]}).noise_scales == ["snr"]


def test_the_closed_loop_uses_the_noise_scale() -> None:
    import functools

    from lnn_drive.eval.rollout import run_drives
    from tests.eval.test_rollout import MirrorPolicy, ToyLane

    # ToyLane's frames are flat: snr noise (relative to the frame's own contrast) is zero
    fn = functools.partial(ToyLane, 0.0)
    kw = dict(seeds=[3, 4], noise_variance=0.1, noise_seed=7, vector="sync", num_envs=2)
    clean = run_drives(MirrorPolicy(0), fn, **{**kw, "noise_variance": 0.0})
    unit = run_drives(MirrorPolicy(0), fn, **kw)
    snr = run_drives(MirrorPolicy(0), fn, noise_scale="snr", **kw)
    assert not np.array_equal(unit[0].command, clean[0].command)
    np.testing.assert_array_equal(snr[0].command, clean[0].command)
    with pytest.raises(ValueError, match="noise_scale"):
        run_drives(MirrorPolicy(0), fn, noise_scale="pixels", **kw)


def test_frame_noise_samples_are_standard_normal_and_seeded() -> None:
    from lnn_drive.eval.wrappers import standard_normal

    z = standard_normal(np.random.default_rng(3), (400_001,)).astype(np.float64)
    assert z.shape == (400_001,)
    assert abs(z.mean()) < 0.01 and z.var() == pytest.approx(1.0, abs=0.01)
    # quantiles of N(0, 1): the tails as well as the spread
    q = np.quantile(z, [0.01, 0.1, 0.5, 0.9, 0.99])
    np.testing.assert_allclose(q, [-2.326, -1.2816, 0.0, 1.2816, 2.326], atol=0.03)
    a = standard_normal(np.random.default_rng(7), (2, 3, 5))
    np.testing.assert_array_equal(a, standard_normal(np.random.default_rng(7), (2, 3, 5)))
    assert a.dtype == np.float32 and a.shape == (2, 3, 5)
