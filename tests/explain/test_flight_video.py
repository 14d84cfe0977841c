"""Flight video: saliency overlay plus the four command bars, one MP4 frame per step."""

from __future__ import annotations

import cv2
import numpy as np
import yaml

from lnn_drive import PROJECT_ROOT
from lnn_drive.data.preprocess import Preprocess
from lnn_drive.envs.drone_config import DroneConfig
from lnn_drive.explain.flight_video import command_panel, flight_video
from lnn_drive.models import Policy


def test_flight_video_writes_frames(tmp_path):
    h, w = 24, 48
    cfg = yaml.safe_load((PROJECT_ROOT / "conf/model/ncp_cfc_drone.yaml").read_text())
    policy = Policy(
        model_cfg=cfg,
        preprocess=Preprocess(height=h, width=w).with_input(h, w),
        output_names=["vx", "vy", "vz", "yaw_rate"],
        units={"vx": "m/s", "vy": "m/s", "vz": "m/s", "yaw_rate": "rad/s"},
        target_mean=np.zeros(4),
        target_std=np.ones(4),
    )
    r = flight_video(
        policy, DroneConfig(height=h, width=w), tmp_path / "f.mp4", seed=1, max_steps=12
    )
    assert r["frames"] == 12
    cap = cv2.VideoCapture(r["path"])
    n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    size = (int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)), int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)))
    cap.release()
    assert n == 12 and size == (4 * h + 4 * 18, 4 * w)


def test_command_panel_bars_follow_the_commands():
    high = np.array([3, 3, 1, 1], np.float32)
    p = command_panel(np.array([3, 0, 0, -1.0]), np.array([0, 0, 0, 0.0]), high, width=200)
    centre = 74 + (200 - 74 - 6) // 2
    orange = np.all(p == (255, 170, 40), axis=-1)
    assert orange[2:8, centre + 5 : 200 - 7].all()  # vx at +bound: full bar to the right
    assert orange[3 * 18 + 2 : 3 * 18 + 8, 75 : centre - 1].all()  # yaw rate at -bound: left
    assert not orange[18:36].any()  # vy = 0: no bar
