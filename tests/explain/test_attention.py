"""Attention shares on label images: hand-made maps, horizon detection, label geometry."""

from __future__ import annotations

import numpy as np
import pytest

from lnn_drive.data.preprocess import Preprocess
from lnn_drive.explain.attention import (
    DEFAULT_LABEL_CLASSES,
    attention_shares,
    horizon_rows,
    labels_to_model,
    shares_table,
)


def _scene(h: int = 40, w: int = 50) -> np.ndarray:
    """Sky above row 10, ground below, a road in the middle fifth of the columns, an object at rows 12..15,
    columns 2..5."""
    lab = np.full((h, w), 1, np.uint8)
    lab[:10] = 0
    lab[10:, 2 * w // 5 : 3 * w // 5] = 2
    lab[10:, w // 2 - 1] = 3
    lab[12:16, 2:6] = 4
    return lab


def test_contract_classes() -> None:
    from lnn_drive.envs import LABEL_CLASSES

    assert LABEL_CLASSES == DEFAULT_LABEL_CLASSES


def test_shares_of_hand_made_maps() -> None:
    lab = _scene()
    assert horizon_rows(lab[None])[0] == 10
    road_only = (np.isin(lab, [2, 3])).astype(float)
    s = attention_shares(road_only, lab, band=0.1)
    assert s.mean()["road"] == pytest.approx(1.0)
    assert s.mean()["objects"] == 0 and s.mean()["sky"] == 0
    # The horizon band is rows 6..14: road rows 10..14 of 30 road rows.
    assert s.mean()["horizon"] == pytest.approx(5 / 30)
    obj = (lab == 4).astype(float) * 3.0
    assert attention_shares(obj, lab).mean()["objects"] == pytest.approx(1.0)
    uniform = np.ones_like(lab, float)
    u = attention_shares(uniform, lab)
    for k, v in u.lift().items():
        assert v == pytest.approx(1.0), k
    zero = attention_shares(np.zeros_like(lab, float), lab)
    assert all(v == 0 for v in zero.mean().values())
    table = shares_table({("ncp", "clean"): s, ("cnn", "clean"): u})
    assert "| ncp | clean | 100.0" in table


def test_labels_to_model_follows_preprocess() -> None:
    lab = _scene(80, 100)
    pre = Preprocess(height=20, width=25, crop_top=20, crop_bottom=20, crop_left=0, crop_right=0)
    out = labels_to_model(lab, pre)
    assert out.shape == (1, 20, 25) and out.dtype == np.uint8
    assert set(np.unique(out)) <= set(np.unique(lab))  # nearest: no blended classes
    assert (out[0, :, 10:15] >= 2).all()  # the road band (columns 40..59 of 100) survives


def test_errors() -> None:
    lab = _scene()
    with pytest.raises(ValueError, match="differ in shape"):
        attention_shares(np.ones((3, 3)), lab)
    with pytest.raises(ValueError, match="band"):
        attention_shares(np.ones_like(lab, float), lab, band=0)
