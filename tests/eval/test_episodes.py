"""Return-scored closed-loop episodes on an adapted environment (CarRacing-v3)."""

from __future__ import annotations

import numpy as np
import pytest

from lnn_drive.data.preprocess import Preprocess
from lnn_drive.envs.adapters import find_adapter
from lnn_drive.envs.adapters.carracing import (
    CarRacingConfig,
    carracing_env_fn,
    make_carracing,
    run_expert_episode,
)
from lnn_drive.eval.episodes import run_episodes, summarise_returns
from lnn_drive.eval.rollout import RolloutError


class ExpertReplay:
    """A policy that drives by the adapter's expert label for the state it is in; frames
    are still checked against its preprocessing, as a trained policy's would be."""

    def __init__(self, env, preprocess: Preprocess) -> None:
        self.env, self.preprocess, self.frames = env, preprocess, 0

    def reset(self, batch_size: int = 1) -> None:
        self.frames = 0

    def act_batch(self, frames: np.ndarray) -> np.ndarray:
        assert frames.shape == (1, 96, 96, 3)
        self.preprocess.check_frame(frames[0])
        self.frames += 1
        return find_adapter(self.env).expert_outputs()[None]


def test_returns_laps_and_off_track_are_reported():
    env = make_carracing(CarRacingConfig(max_episode_steps=60))
    pol = ExpertReplay(env, find_adapter(env).preprocess())
    eps = run_episodes(
        pol, lambda: env, seeds=[3, 4], signal_names=["laps", "off_track_events", "progress"]
    )
    assert [e.steps for e in eps] == [60, 60] and pol.frames == 60
    # driving by the expert's labels through the loop scores what the expert scores alone
    assert [e.ret for e in eps] == [run_expert_episode(env, s).ret for s in (3, 4)]
    assert all(e.ret > 20 for e in eps)
    s = summarise_returns(eps)
    assert s["episodes"] == 2 and s["laps"] == 0 and s["off_track_events"] == 0
    assert s["return_min"] <= s["return_mean"] <= max(e.ret for e in eps)


def test_policy_for_another_camera_is_refused_before_driving():
    pol = ExpertReplay(None, Preprocess(in_height=78, in_width=200))
    with pytest.raises(RolloutError, match="78x200"):
        run_episodes(pol, carracing_env_fn(max_episode_steps=5), seeds=[0])
