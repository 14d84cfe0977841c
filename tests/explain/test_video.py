"""Saliency video of a closed-loop run with the fake policy and env."""

from __future__ import annotations

import cv2
import numpy as np

from lnn_drive.explain.dynamics import record_closed_loop
from lnn_drive.explain.video import policy_saliency, render_panel, saliency_video
from tests.explain.fakes import FakeEnv, FakePolicy


def test_saliency_video_writes_an_mp4(tmp_path) -> None:
    pol = FakePolicy()
    path = saliency_video(pol, FakeEnv(), steps=12, seed=1, path=tmp_path / "sal.mp4")
    assert path.exists() and not list(tmp_path.glob(".*"))
    cap = cv2.VideoCapture(str(path))
    n = 0
    while True:
        ok, img = cap.read()
        if not ok:
            break
        n += 1
        shape = img.shape
    assert n == 12 and shape[0] > 3 * 24 and shape[1] > 3 * 40


def test_panel_and_policy_saliency() -> None:
    pol = FakePolicy()
    rec = record_closed_loop(pol, FakeEnv(), steps=5, seed=0)
    sal = policy_saliency(pol, rec.frames, batch=2)
    assert sal.shape == (5, 24, 40) and sal.min() >= 0 and sal.max() <= 1
    frames = pol.preprocess.geometry_batch(rec.frames)
    img = render_panel(rec, sal, frames, 4)
    assert img.dtype == np.uint8 and img.shape[0] % 2 == 0 and img.shape[1] % 2 == 0
