"""``import lnn_drive`` registers the environments by entry-point string: ``gymnasium.make``
works without importing ``lnn_drive.envs``, and nothing heavy is imported before it."""

from __future__ import annotations

import subprocess
import sys

import gymnasium as gym

import lnn_drive  # noqa: F401


def test_import_lnn_drive_registers_without_importing_the_simulator():
    code = (
        "import sys, lnn_drive, gymnasium as g\n"
        "heavy = [m for m in ('numba', 'cv2', 'lnn_drive.envs.render', 'lnn_drive.envs.lane_keeping') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
        "for i in ('lnn_drive/LaneKeeping-v0', 'lnn_drive/LaneKeepingHard-v0'):\n"
        "    e = g.make(i); o, _ = e.reset(seed=0); assert o.shape == (78, 200, 3)\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_registered_ids_use_entry_point_strings():
    for env_id in ("lnn_drive/LaneKeeping-v0", "lnn_drive/LaneKeepingHard-v0"):
        spec = gym.spec(env_id)
        assert spec.entry_point == "lnn_drive.envs.lane_keeping:LaneKeepingEnv"
        assert spec.max_episode_steps == 1000
    assert gym.spec("lnn_drive/LaneKeepingHard-v0").kwargs == {"profile": "hard"}
