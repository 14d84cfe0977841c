"""Synthetic road-like frames for tests and benchmarks (no simulator needed)."""

from __future__ import annotations

import numpy as np


def synthetic_frame(rng: np.random.Generator, h: int, w: int, steer: float) -> np.ndarray:
    """A uint8 (h, w, 3) road-like picture whose content depends on ``steer`` (so frames of
    different labels can be told apart): sky, grass and a road bending with ``steer``."""
    img = np.zeros((h, w, 3), np.uint8)
    img[: h // 3] = (120, 170, 230)  # sky
    img[h // 3 :] = (70, 120, 60)  # grass
    cols = np.arange(w)
    for r in range(h // 3, h):
        centre = w / 2 + steer * 400 * (h - r) / h
        half = 10 + 60 * (r - h // 3) / h
        img[r, np.abs(cols - centre) < half] = (90, 90, 90)
    img += rng.integers(0, 8, img.shape, dtype=np.uint8)
    return img
