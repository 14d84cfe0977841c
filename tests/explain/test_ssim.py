"""SSIM: identical maps give 1, against a direct per-window computation, errors."""

from __future__ import annotations

import numpy as np
import pytest

from lnn_drive.explain.ssim import gaussian_window, ssim


def test_identical_maps_give_one() -> None:
    rng = np.random.default_rng(0)
    maps = rng.random((5, 78, 200))
    np.testing.assert_allclose(ssim(maps, maps), 1.0, atol=1e-12)
    np.testing.assert_allclose(ssim(maps[0], maps[0]), [1.0], atol=1e-12)
    const = np.zeros((20, 20))
    assert ssim(const, const)[0] == pytest.approx(1.0)


def test_matches_direct_window_computation() -> None:
    rng = np.random.default_rng(1)
    a = rng.random((15, 16))
    b = np.clip(a + 0.2 * rng.standard_normal(a.shape), 0, 1)
    g = gaussian_window(11, 1.5).numpy()
    w2 = np.outer(g, g)
    c1, c2 = 0.01**2, 0.03**2
    vals = []
    for i in range(15 - 10):
        for j in range(16 - 10):
            pa, pb = a[i : i + 11, j : j + 11], b[i : i + 11, j : j + 11]
            ma, mb = (w2 * pa).sum(), (w2 * pb).sum()
            va = (w2 * (pa - ma) ** 2).sum()
            vb = (w2 * (pb - mb) ** 2).sum()
            cov = (w2 * (pa - ma) * (pb - mb)).sum()
            vals.append(
                ((2 * ma * mb + c1) * (2 * cov + c2)) / ((ma**2 + mb**2 + c1) * (va + vb + c2))
            )
    assert ssim(a, b)[0] == pytest.approx(np.mean(vals), abs=1e-10)


def test_ordering_and_errors() -> None:
    rng = np.random.default_rng(2)
    a = rng.random((40, 40))
    near = np.clip(a + 0.05 * rng.standard_normal(a.shape), 0, 1)
    far = rng.random((40, 40))
    s_near, s_far = ssim(a, near)[0], ssim(a, far)[0]
    assert s_near > s_far
    with pytest.raises(ValueError, match="differ in shape"):
        ssim(a, a[:-1])
    with pytest.raises(ValueError, match=r"\(H, W\) or \(N, H, W\)"):
        ssim(a[0], a[0])
    with pytest.raises(ValueError, match="odd"):
        gaussian_window(4)
