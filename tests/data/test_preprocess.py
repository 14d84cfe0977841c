from __future__ import annotations

import numpy as np
import pytest
import torch

from lnn_drive.data import Preprocess


def test_crop_and_resize() -> None:
    frame = np.zeros((100, 240, 3), np.uint8)
    frame[20:, 20:220] = 200
    p = Preprocess(
        height=40, width=100, crop_top=20, crop_left=20, crop_right=20, in_height=100, in_width=240
    )
    out = p.geometry(frame)
    assert out.shape == (3, 40, 100) and out.dtype == np.uint8
    assert (out == 200).all()
    assert Preprocess.from_config(p.to_config()) == p


def test_standardise_per_image() -> None:
    x = torch.randint(0, 255, (2, 5, 3, 8, 10), dtype=torch.uint8)
    x[0, 0] = 7  # a constant image must not divide by zero
    y = Preprocess.standardise(x)
    assert y.dtype == torch.float32
    m = y.mean(dim=(-3, -2, -1))
    s = y.std(dim=(-3, -2, -1), unbiased=False)
    assert torch.allclose(m, torch.zeros_like(m), atol=1e-5)
    assert torch.allclose(s[1:], torch.ones_like(s[1:]), atol=1e-4)
    assert torch.isfinite(y).all() and y[0, 0].abs().max() == 0


@pytest.mark.parametrize(
    ("frame", "match"),
    [
        (np.zeros((78, 200, 3), np.float32), "uint8 RGB"),
        (np.zeros((78, 200), np.uint8), "uint8 RGB"),
        (np.zeros((80, 200, 3), np.uint8), "height 80 != the 78"),
        ([[0]], "numpy uint8 array"),
    ],
)
def test_bad_frames_are_rejected(frame, match) -> None:
    with pytest.raises(ValueError, match=match):
        Preprocess().with_input(78, 200).geometry(frame)


def test_bad_config_is_rejected() -> None:
    with pytest.raises(ValueError, match="crop_top"):
        Preprocess(crop_top=-1)
    with pytest.raises(ValueError, match="leaves nothing"):
        Preprocess(crop_top=50, crop_bottom=50, in_height=100, in_width=10)
