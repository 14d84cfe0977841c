"""Closed-loop flight evaluation: Wilson intervals, outcome counting, noise, path plots."""

from __future__ import annotations

import numpy as np
import pytest

from lnn_drive.envs.drone_config import DroneConfig
from lnn_drive.eval.drone import (
    DroneEvalConfig,
    evaluate_flights,
    plot_paths,
    results_table,
    wilson_interval,
)


class Constant:
    """A batch policy that always commands the same thing, and records what it saw."""

    def __init__(self, action):
        self.action = np.asarray(action, np.float32)
        self.frames: list[np.ndarray] = []

    def reset(self, batch_size: int = 1) -> None:
        self.batch = batch_size

    def reset_rows(self, mask) -> None:
        pass

    def act_batch(self, frames):
        assert frames.shape[0] == self.batch
        self.frames.append(frames.copy())
        return np.tile(self.action, (len(frames), 1))


def test_wilson_interval_known_values():
    lo, hi = wilson_interval(90, 100)
    assert lo == pytest.approx(0.8256, abs=1e-3) and hi == pytest.approx(0.9448, abs=1e-3)
    assert wilson_interval(0, 10)[0] == 0.0 and wilson_interval(10, 10)[1] == 1.0
    with pytest.raises(ValueError):
        wilson_interval(3, 2)


def test_outcomes_are_counted_per_condition(tmp_path):
    env = DroneConfig(height=24, width=48, max_episode_steps=20)
    ecfg = DroneEvalConfig(episodes=5, seasons=("summer", "fog"), batch=2, keep_paths=3)
    hover = evaluate_flights(Constant([0, 0, 0, 0]), env, ecfg)
    assert [r.name for r in hover] == ["summer", "fog"]
    assert all(r.outcomes["timeout"] == 5 and r.success_rate == 0 for r in hover)
    assert len(hover[0].paths) == 3 and hover[0].paths[0]["xy"].shape == (21, 2)
    spin = evaluate_flights(
        Constant([0, 0, 0, 1]),
        DroneConfig(height=24, width=48),
        DroneEvalConfig(episodes=3, seasons=("winter",)),
    )
    assert spin[0].outcomes["target_lost"] == 3
    table = results_table(hover + spin)
    assert "| fog | 5 | 0.0% [0.0%, 43.4%] | 5 | 0 | 0 |" in table
    assert plot_paths(hover, tmp_path / "p.png").stat().st_size > 1000


def test_frame_noise_reaches_the_policy_and_bad_config():
    env = DroneConfig(height=24, width=48, max_episode_steps=3)
    clean, noisy = Constant([0, 0, 0, 0]), Constant([0, 0, 0, 0])
    evaluate_flights(clean, env, DroneEvalConfig(episodes=1, seasons=("summer",)))
    evaluate_flights(
        noisy, env, DroneEvalConfig(episodes=1, seasons=("summer",), noise_variances=(0.1,))
    )
    diff = np.abs(clean.frames[0].astype(int) - noisy.frames[0].astype(int))
    assert 30 < diff.mean() < 120  # std 0.32 on [0, 1], clipped
    with pytest.raises(ValueError, match="unknown season"):
        DroneEvalConfig(seasons=("mars",))
    with pytest.raises(ValueError, match="noise_variances"):
        DroneEvalConfig(noise_variances=(2.0,))
