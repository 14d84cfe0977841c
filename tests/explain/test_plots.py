"""Overlays, grids and charts write readable PNGs."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from lnn_drive.explain.plots import overlay, plot_attention, plot_ssim, saliency_grid, ssim_table


def test_overlay_marks_hot_pixels() -> None:
    frame = np.full((10, 20, 3), 128, np.uint8)
    sal = np.zeros((10, 20))
    sal[:, 15:] = 1.0
    out = overlay(frame, sal)
    assert out.shape == frame.shape and out.dtype == np.uint8
    assert out[5, 18, 0] > out[5, 2, 0]  # hot = red
    chw = overlay(frame.transpose(2, 0, 1), sal[::2, ::2])  # (3, H, W) and a smaller map
    assert chw.shape == frame.shape
    with pytest.raises(ValueError, match="RGB"):
        overlay(np.zeros((4, 4)), sal)


def test_grid_and_charts(tmp_path) -> None:
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 255, (3, 78, 200, 3), dtype=np.uint8)
    maps = {"ncp": rng.random((3, 78, 200)), "cnn": rng.random((3, 39, 100))}
    png = saliency_grid(frames, maps, tmp_path / "grid.png", col_titles=["a", "b", "c"])
    img = cv2.imread(str(png))
    assert img is not None and img.shape[0] > 100
    with pytest.raises(ValueError, match="2 maps for 3 frames"):
        saliency_grid(frames, {"x": maps["ncp"][:2]}, tmp_path / "bad.png")
    res = {"ncp": {0.1: rng.random(200), 0.3: rng.random(200)}, "lstm": {0.1: rng.random(200)}}
    table = ssim_table(res)
    assert "| ncp |" in table and "| 200 |" in table and "n/a" in table
    assert plot_ssim(res, tmp_path / "ssim.png").exists()
    shares = {"ncp": {"road": 0.6, "objects": 0.1}, "cnn": {"road": 0.3, "objects": 0.4}}
    assert plot_attention(shares, tmp_path / "att.png").exists()
