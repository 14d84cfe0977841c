"""The one recording loop: rules decide action and labels, the env declares its signals;
nothing car-specific (a 4-D action environment records through the same loop)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import gymnasium as gym
import numpy as np
import pytest

from lnn_drive.data import DrivingLog, LogWriter
from lnn_drive.envs.record import (
    Decision,
    Episode,
    ExpertRule,
    MixtureRule,
    PolicyRule,
    record_episodes,
)


class Hover(gym.Env):
    """A toy 'drone': 4-D body-frame commands (vx, vy, vz, yaw rate), altitude observed."""

    metadata = {"render_fps": 10}

    def __init__(self) -> None:
        self.observation_space = gym.spaces.Box(0, 255, (8, 8, 3), np.uint8)
        self.action_space = gym.spaces.Box(-1, 1, (4,), np.float32)
        self.z = 0.0

    def _obs(self) -> np.ndarray:
        return np.full((8, 8, 3), int(self.z * 10) % 255, np.uint8)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.z = float(self.np_random.uniform(1, 2))
        return self._obs(), {"altitude": self.z, "expert_vz": -0.5 * self.z}

    def step(self, action):
        assert action.shape == (4,)
        self.z += 0.1 * float(action[2])
        info = {"altitude": self.z, "expert_vz": -0.5 * self.z, "distance": 1.0}
        return self._obs(), 0.0, self.z < 0.2, False, info


class LandingRule:
    def reset(self, episode: Episode) -> None:
        self.n = 0

    def decide(self, obs: np.ndarray, info: Mapping[str, Any]) -> Decision:
        vz = float(info["expert_vz"])
        return Decision(
            action=np.array([0.0, 0.0, vz, 0.1], np.float32),
            labels={"vx": 0.0, "vy": 0.0, "vz": vz, "yaw_rate": 0.1},
            expert=True,
        )


def test_a_four_d_action_env_records_through_the_same_loop(tmp_path) -> None:
    signals = {"vx": "m/s", "vy": "m/s", "vz": "m/s", "yaw_rate": "rad/s", "altitude": "m"}
    with LogWriter(tmp_path / "d", height=8, width=8, fps=10, signals=signals, source="t") as w:
        stats = record_episodes(
            Hover(),
            w,
            LandingRule(),
            episodes=[Episode(seed=s, meta={"seed": s}, steps=5) for s in (1, 2)],
            observed={"altitude": "altitude"},
        )
    assert stats.episodes == 2 and stats.frames == 10 and stats.expert_frames == 10
    assert stats.distance_m == 2.0
    log = DrivingLog(tmp_path / "d")
    sig = log.signals(log.episodes[0])
    assert np.allclose(sig["vz"], -0.5 * sig["altitude"])
    assert np.allclose(np.diff(sig["timestamp"]), 0.1)
    assert [e.meta["seed"] for e in log.episodes] == [1, 2]


class _Const:
    def __init__(self, value: float) -> None:
        self.value, self.resets = value, 0

    def reset(self, batch_size: int = 1) -> None:
        self.resets += 1

    def reset_rows(self, mask: np.ndarray) -> None: ...

    def act(self, frame: np.ndarray) -> np.ndarray:
        return np.array([self.value], np.float32)

    def act_batch(self, frames: np.ndarray) -> np.ndarray:
        return np.full((len(frames), 1), self.value, np.float32)


def test_rules_label_with_the_expert_and_execute_their_choice() -> None:
    info = {"expert_action": 0.02}
    obs = np.zeros((4, 4, 3), np.uint8)
    d = ExpertRule(dart_std=0.0, rng=np.random.default_rng(0)).decide(obs, info)
    assert d.labels == {"steering": 0.02, "command": 0.02} and d.action[0] == np.float32(0.02)
    noisy = [
        ExpertRule(dart_std=0.01, rng=np.random.default_rng(0)).decide(obs, info) for _ in range(3)
    ]
    assert all(n.labels["steering"] == 0.02 and n.labels["command"] != 0.02 for n in noisy)
    learner = _Const(-0.03)
    mix = MixtureRule(policy=learner, beta=0.5, rng=np.random.default_rng(1))
    mix.reset(Episode(seed=0))
    picks = [mix.decide(obs, info) for _ in range(200)]
    assert learner.resets == 1
    share = np.mean([p.expert for p in picks])
    assert 0.4 < share < 0.6
    assert all(p.labels["steering"] == 0.02 for p in picks)
    assert all(p.labels["command"] == (0.02 if p.expert else pytest.approx(-0.03)) for p in picks)
    d = PolicyRule(policy=_Const(0.01)).decide(obs, info)
    assert d.labels["steering"] == 0.02 and d.labels["command"] == pytest.approx(0.01)


def test_stop_and_unbounded_episodes() -> None:
    stats = record_episodes(
        Hover(),
        None,
        LandingRule(),
        episodes=(Episode(seed=s) for s in range(100)),  # until the env ends each one
        stop=lambda st: st.episodes >= 3,
    )
    assert stats.episodes == 3 and stats.terminations == 3


class Countdown(gym.Env):
    """Ends after ``seed % 5 + 1`` steps; the observation is the seed, the reward 1."""

    def __init__(self) -> None:
        self.observation_space = gym.spaces.Box(0, 255, (2, 2, 3), np.uint8)
        self.action_space = gym.spaces.Box(-1, 1, (1,), np.float32)

    def reset(self, *, seed=None, options=None):
        self.seed_, self.left = int(seed), int(seed) % 5 + 1
        return np.full((2, 2, 3), self.seed_, np.uint8), {"seed": self.seed_}

    def step(self, action):
        self.left -= 1
        obs = np.full((2, 2, 3), self.seed_, np.uint8)
        return obs, 1.0, self.left == 0, False, {"seed": self.seed_}


class Tally:
    """A metrics-sink driver: counts steps per seed, checks every row sees its own frames."""

    def __init__(self, seeds, n) -> None:
        self.queue, self.n = list(seeds), n
        self.steps: dict[int, int] = {}
        self.row_seed: list[int | None] = [None] * n
        self.batches: list[int] = []
        self.begins: list[np.ndarray] = []

    def next_episode(self):
        return Episode(seed=self.queue.pop(0)) if self.queue else None

    def begin(self, rows, episodes, info):
        self.begins.append(rows.copy())
        for i in np.flatnonzero(rows):
            self.row_seed[i] = None if episodes[i] is None else episodes[i].seed

    def act(self, obs, live):
        self.batches.append(len(obs))
        for i in np.flatnonzero(live):
            assert obs[i, 0, 0, 0] == self.row_seed[i]  # the row's own, freshly reset frame
        return np.zeros((len(obs), 1), np.float32), np.zeros(len(obs), bool)

    def record(self, actions, step, live):
        for i in np.flatnonzero(live):
            s = step.info[i]["seed"]
            self.steps[s] = self.steps.get(s, 0) + 1
        return np.asarray(step.terminated) | np.asarray(step.truncated)

    def end(self, rows):
        pass


def test_drive_rows_steps_rows_together_and_refills_only_ended_rows():
    from lnn_drive.envs.record import ListRows, drive_rows

    seeds = [3, 0, 4, 1, 7, 2, 9]
    tally = Tally(seeds, 3)
    drive_rows(ListRows([Countdown() for _ in range(3)]), tally)
    assert tally.steps == {s: s % 5 + 1 for s in seeds}  # every episode driven in full
    assert set(tally.batches) == {3}  # one batched decision over all rows per step
    assert tally.begins[0].all() and all(b.sum() < 3 for b in tally.begins[1:])


def test_record_episodes_is_the_one_row_loop_with_frame_limit_and_rewards():
    from lnn_drive.envs.record import EndEpisode, FunctionRule

    seen = []

    def act(obs, info):
        seen.append(info["seed"])
        if info["seed"] == 2 and seen.count(2) == 2:
            raise EndEpisode  # ended by the rule before its second step
        return np.zeros(1, np.float32)

    eps = [Episode(seed=4), Episode(seed=3, steps=2), Episode(seed=2), Episode(seed=1, steps=0)]
    stats = record_episodes(Countdown(), None, FunctionRule(act), episodes=eps)
    assert seen == [4] * 5 + [3] * 2 + [2] * 2
    assert stats.frames == 8 and stats.reward == 8.0 and stats.terminations == 1
    assert stats.episodes == 4  # the one of 0 frames ends by its limit, so it counts
