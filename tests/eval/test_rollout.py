"""Vectorised closed-loop rollouts, checked on a toy lane-keeping environment whose dynamics
are known in closed form, so that recorded traces can be checked exactly."""

from __future__ import annotations

import functools

import gymnasium as gym
import numpy as np
import pytest

from lnn_drive.eval.metrics import compute_metrics
from lnn_drive.eval.rollout import RolloutError, check_compatible, run_drives


class ToyLane(gym.Env):
    """1-D lane keeping: the frame's brightness encodes the lateral offset; the action moves
    the car sideways. Leaving |offset| > 1 is an intervention (recentred). Episode length
    depends on the seed so that drives end at different steps."""

    metadata = {"render_modes": [], "render_fps": 30}

    def __init__(self, drift: float = 0.05, terminate: bool = False) -> None:
        self.observation_space = gym.spaces.Box(0, 255, (6, 8, 3), np.uint8)
        self.action_space = gym.spaces.Box(-1, 1, (1,), np.float32)
        self.drift = drift
        self.terminate = terminate

    def _obs(self):
        v = np.clip(128 + 100 * self.offset, 0, 255)
        return np.full((6, 8, 3), v, np.uint8)

    def _info(self, intervened=False):
        return {
            "lateral_offset": self.offset,
            "heading_error": 0.0,
            "distance": self.t * 0.5,
            "x": float(self.t),
            "y": self.offset,
            "interventions": self.interventions,
            "intervened": intervened,
            "expert_action": -self.offset,
        }

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.seed_ = seed
        self.offset = 0.0
        self.t = 0
        self.interventions = 0
        self.length = 5 + (seed % 4)
        return self._obs(), self._info()

    def step(self, action):
        self.t += 1
        self.offset += float(action[0]) + self.drift
        intervened = abs(self.offset) > 1
        terminated = False
        if intervened:
            if self.terminate:
                terminated = True
            else:
                self.interventions += 1
                self.offset = 0.0
        truncated = self.t >= self.length
        return self._obs(), 0.0, terminated, truncated, self._info(intervened)


class ConstPolicy:
    """Steers a constant amount; records resets."""

    def __init__(self, value: float) -> None:
        self.value = value
        self.resets: list[np.ndarray] = []
        self.batch = 0

    def reset(self, batch_size: int = 1) -> None:
        self.batch = batch_size

    def reset_rows(self, mask: np.ndarray) -> None:
        self.resets.append(mask.copy())

    def act_batch(self, frames: np.ndarray) -> np.ndarray:
        assert frames.shape[0] == self.batch and frames.dtype == np.uint8
        return np.full((frames.shape[0], 1), self.value, np.float32)


class MirrorPolicy(ConstPolicy):
    """Returns the mean pixel value, so noise on the frames shows in the commands."""

    def act_batch(self, frames: np.ndarray) -> np.ndarray:
        return frames.reshape(len(frames), -1).mean(1, keepdims=True).astype(np.float32) / 1e3


@pytest.mark.parametrize("vector", ["sync", "async", "inprocess"])
def test_traces_follow_dynamics(vector: str) -> None:
    seeds = [10, 11, 12, 13, 14]
    traces = run_drives(
        ConstPolicy(0.3), functools.partial(ToyLane, 0.0), seeds=seeds, num_envs=2, vector=vector
    )
    assert [t.seed for t in traces] == seeds
    for t in traces:
        n = 5 + t.seed % 4
        assert t.steps == n
        # offset climbs 0.3 per step and is recentred when it passes 1 (at step 4)
        expect, off, inter = [], 0.0, []
        for k in range(n):
            off += 0.3
            if abs(off) > 1:
                off = 0.0
                inter.append(k)
            expect.append(off)
        np.testing.assert_allclose(t.lateral_offset, expect, atol=1e-6)
        assert list(t.intervention_steps) == inter
        assert t.interventions == len(inter)
        np.testing.assert_allclose(t.command, 0.3)
        # the expert label is the one for the state the command was computed in
        np.testing.assert_allclose(t.expert[1:], -np.asarray(expect[:-1]), atol=1e-6)
        assert t.expert[0] == 0.0
    m = compute_metrics(traces)
    assert m.drives == 5 and m.interventions == sum(t.interventions for t in traces)


def test_terminate_mode_and_state_resets() -> None:
    pol = ConstPolicy(0.6)
    traces = run_drives(
        pol, functools.partial(ToyLane, 0.0, True), seeds=[1, 2, 3], num_envs=2, vector="sync"
    )
    assert all(t.crashed and t.steps == 2 for t in traces)
    # every finished drive zeroes exactly its row
    assert sum(int(m.sum()) for m in pol.resets) == 3


def test_noise_is_seeded_per_road_not_per_slot() -> None:
    fn = functools.partial(ToyLane, 0.0)
    kw = dict(seeds=[3, 4, 5], noise_variance=0.1, noise_seed=7, vector="sync")
    a = run_drives(MirrorPolicy(0), fn, num_envs=1, **kw)
    b = run_drives(MirrorPolicy(0), fn, num_envs=3, **kw)
    c = run_drives(MirrorPolicy(0), fn, num_envs=3, **{**kw, "noise_seed": 8})
    clean = run_drives(MirrorPolicy(0), fn, num_envs=3, **{**kw, "noise_variance": 0.0})
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x.command, y.command)
    assert not np.array_equal(a[0].command, c[0].command)
    assert not np.array_equal(a[0].command, clean[0].command)


def test_on_frame_sees_first_drive_only() -> None:
    seen = []
    run_drives(
        ConstPolicy(0.1),
        functools.partial(ToyLane, 0.0),
        seeds=[4, 5, 6],
        num_envs=2,
        vector="sync",
        on_frame=lambda k, f, c, e: seen.append((k, f.shape, c)),
    )
    assert [k for k, _, _ in seen] == list(range(5 + 4 % 4))
    assert all(s == (6, 8, 3) and c == pytest.approx(0.1) for _, s, c in seen)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="no road seeds"):
        run_drives(ConstPolicy(0), ToyLane, seeds=[])
    with pytest.raises(ValueError, match="distinct"):
        run_drives(ConstPolicy(0), ToyLane, seeds=[1, 1], vector="sync")


def test_frame_size_mismatch_is_reported_before_rollout() -> None:
    from lnn_drive.data.preprocess import Preprocess

    class P:
        preprocess = Preprocess(height=6, width=8).with_input(66, 200)

    space = gym.spaces.Box(0, 255, (78, 200, 3), np.uint8)
    with pytest.raises(RolloutError, match="78x200.*66x200"):
        check_compatible(P(), space)
    with pytest.raises(RolloutError, match="not RGB"):
        check_compatible(P(), gym.spaces.Box(0, 1, (4,), np.float32))
