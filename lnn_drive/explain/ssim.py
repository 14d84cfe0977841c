"""Structural similarity (SSIM, Wang et al. 2004) of saliency maps, batched in torch.

Gaussian-weighted local statistics (window 11, sigma 1.5 by default, as in the original
paper and ``skimage.metrics.structural_similarity(gaussian_weights=True)``); the SSIM of a
pair is the mean of the SSIM map over the positions where the window fits entirely.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["gaussian_window", "ssim"]


def gaussian_window(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    """1-D normalised Gaussian of odd length ``size``, float64."""
    if size < 1 or size % 2 == 0:
        raise ValueError(f"SSIM window size must be a positive odd number, got {size}")
    if not sigma > 0:
        raise ValueError(f"SSIM sigma must be > 0, got {sigma}")
    r = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(r**2) / (2 * sigma**2))
    return g / g.sum()


def _as_tensor(a: np.ndarray | torch.Tensor, what: str) -> torch.Tensor:
    t = torch.as_tensor(np.asarray(a) if not isinstance(a, torch.Tensor) else a)
    t = t.detach().to("cpu", torch.float64)
    if t.ndim == 2:
        t = t[None]
    if t.ndim != 3:
        raise ValueError(f"ssim: {what} must be (H, W) or (N, H, W), got shape {tuple(t.shape)}")
    return t


def ssim(
    a: np.ndarray | torch.Tensor,
    b: np.ndarray | torch.Tensor,
    *,
    data_range: float = 1.0,
    window: int = 11,
    sigma: float = 1.5,
    k1: float = 0.01,
    k2: float = 0.03,
) -> np.ndarray:
    """SSIM between maps ``a`` and ``b``, pair by pair.

    Args:
        a, b: (H, W) or (N, H, W) maps of the same shape (saliency maps in [0, 1]).
        data_range: Value range of the maps (1 for normalised saliency).
        window: Gaussian window length (odd); shrunk to the largest odd size that fits
            maps smaller than it.
        sigma: Gaussian standard deviation in pixels.
        k1, k2: Stabilising constants, C1 = (k1 L)^2, C2 = (k2 L)^2.

    Returns:
        (N,) float64 array of SSIM values in [-1, 1]; 1 for identical maps.
    """
    x, y = _as_tensor(a, "a"), _as_tensor(b, "b")
    if x.shape != y.shape:
        raise ValueError(f"ssim: maps differ in shape, {tuple(x.shape)} vs {tuple(y.shape)}")
    h, w = x.shape[1:]
    size = min(window, h - (1 - h % 2), w - (1 - w % 2))
    if size < 1:
        raise ValueError(f"ssim: maps of shape {(h, w)} are too small")
    g = gaussian_window(size, sigma)
    gh = g.view(1, 1, size, 1)
    gw = g.view(1, 1, 1, size)

    def blur(t: torch.Tensor) -> torch.Tensor:  # (N, 1, H, W) -> (N, 1, H-s+1, W-s+1)
        return F.conv2d(F.conv2d(t, gh), gw)

    x, y = x[:, None], y[:, None]  # (N, 1, H, W)
    mx, my = blur(x), blur(y)
    sxx = blur(x * x) - mx * mx
    syy = blur(y * y) - my * my
    sxy = blur(x * y) - mx * my
    c1, c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2
    num = (2 * mx * my + c1) * (2 * sxy + c2)
    den = (mx * mx + my * my + c1) * (sxx + syy + c2)
    return (num / den).mean(dim=(1, 2, 3)).numpy()
