"""FlyToTarget-v0: gymnasium contract, determinism, bad input, dynamics, episode ends, expert."""

from __future__ import annotations

import math
import pickle

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import lnn_drive.envs  # noqa: F401  (registers)
from lnn_drive.envs.drone_config import SEASONS, DroneConfig
from lnn_drive.envs.drone_expert import dart_action
from lnn_drive.envs.drone_world import K_TREE, generate_world
from lnn_drive.envs.fly_to_target import make_drone_env

INFO_KEYS = {
    "distance",
    "bearing",
    "target_in_view",
    "altitude",
    "collision",
    "collided_with",
    "outcome",
    "x",
    "y",
    "yaw",
    "velocity",
    "wind",
    "expert_action",
    "steps",
}


def fly(env: gym.Env, steps: int, *, seed: int, action=None, options=None):
    """Fly the expert (or a fixed action); return frames, rewards and infos."""
    obs, info = env.reset(seed=seed, options=options)
    frames, rewards, infos = [obs], [], [info]
    for _ in range(steps):
        a = info["expert_action"] if action is None else np.asarray(action, np.float32)
        obs, r, term, trunc, info = env.step(a)
        frames.append(obs)
        rewards.append(r)
        infos.append(info)
        if term or trunc:
            break
    return frames, rewards, infos


def test_registered_and_check_env():
    env = gym.make("lnn_drive/FlyToTarget-v0", render_mode="rgb_array")
    assert env.spec.max_episode_steps == 600
    check_env(env.unwrapped, skip_render_check=False)
    obs, info = env.reset(seed=0)
    assert obs.shape == (72, 128, 3) and obs.dtype == np.uint8
    assert env.observation_space.contains(obs)
    assert np.array_equal(env.render(), obs)
    assert env.action_space.shape == (4,)
    assert np.allclose(env.action_space.high, [3, 3, 1, 1])
    assert set(info) >= INFO_KEYS
    assert 8 <= info["distance"] <= 25 and info["target_in_view"]


def test_same_seed_same_flight_different_seed_differs():
    kw = dict(gust_std=0.5, command_noise_std=0.05)
    a, b = make_drone_env(**kw), make_drone_env(**kw)
    b.reset(seed=99)  # an earlier episode must not leak into the next one
    fa, ra, ia = fly(a, 40, seed=7)
    fb, rb, ib = fly(b, 40, seed=7)
    assert all(np.array_equal(x, y) for x, y in zip(fa, fb, strict=True))
    assert ra == rb
    assert [i["x"] for i in ia] == [i["x"] for i in ib]
    fc, _, _ = fly(a, 3, seed=8)
    assert not np.array_equal(fa[2], fc[2])


def test_seasons_look_different_and_target_is_red():
    means = {}
    for season in SEASONS:
        obs, _ = make_drone_env(season=season).reset(seed=1, options={"target_bearing": 0.0})
        means[season] = obs.reshape(-1, 3).mean(0)
        # the chair straight ahead: a red blob near the centre column
        centre = obs[:, 56:72].astype(int)
        red = (centre[..., 0] > 120) & (centre[..., 0] > centre[..., 1] + 60)
        assert red.sum() >= 3, season
    names = list(means)
    for i, p in enumerate(names):
        for q in names[i + 1 :]:
            assert np.abs(means[p] - means[q]).max() > 8, (p, q)
    assert means["winter"].mean() > means["summer"].mean() + 30  # snow
    assert means["dusk"].mean() < means["summer"].mean() - 20  # low light


def test_paper_resolution_and_bad_config():
    env = make_drone_env(height=144, width=256)
    obs, _ = env.reset(seed=0)
    assert obs.shape == (144, 256, 3)
    for bad, match in [
        ({"season": "spring"}, "env.season"),
        ({"height": 4}, "env.height"),
        ({"max_speed": -1.0}, "env.max_speed"),
        ({"time_constant": float("nan")}, "env.time_constant"),
        ({"target_distance": (30.0, 10.0)}, "env.target_distance"),
        ({"success_radius": 9.0}, "env.success_radius"),
        ({"wings": 2}, "unknown env option"),
    ]:
        with pytest.raises(ValueError, match=match):
            make_drone_env(**bad)


def test_bad_actions_and_options():
    env = make_drone_env()
    with pytest.raises(RuntimeError, match="reset"):
        env.unwrapped.step(np.zeros(4, np.float32))
    env.reset(seed=0)
    for bad in ([1.0, 2.0], np.full(4, np.nan), "fast", np.zeros((2, 4))):
        with pytest.raises(ValueError, match="action"):
            env.step(bad)
    with pytest.raises(ValueError, match="unknown reset option"):
        env.reset(seed=0, options={"speed": 1})
    with pytest.raises(ValueError, match="target_bearing"):
        env.reset(seed=0, options={"target_bearing": 2.0})
    with pytest.raises(ValueError, match="altitude"):
        env.reset(seed=0, options={"altitude": 0.1})
    with pytest.raises(ValueError, match="target_distance"):
        env.reset(seed=0, options={"target_distance": "far"})


def test_first_order_response_and_clipping():
    env = make_drone_env(time_constant=0.5)
    _, info = env.reset(seed=0, options={"target_bearing": 0.0})
    yaw0 = info["yaw"]
    _, _, _, _, info = env.step(np.array([10.0, 0.0, 0.0, 0.0], np.float32))  # clipped to 3
    alpha = 1 - math.exp(-1 / 30 / 0.5)
    assert info["velocity"][0] == pytest.approx(3.0 * alpha)
    for _ in range(29):
        _, _, _, _, info = env.step(np.array([3.0, 0.0, 0.0, 0.0], np.float32))
    # after 1 s = 2 time constants: 1 - exp(-2) of the command
    assert info["velocity"][0] == pytest.approx(3.0 * (1 - math.exp(-2)), rel=1e-6)
    assert info["yaw"] == pytest.approx(yaw0)
    moved = math.hypot(info["x"], info["y"])
    assert 1.0 < moved < 3.0 * 1.0


def test_episode_ends_success_collision_lost_timeout():
    # the expert reaches the target
    _, rewards, infos = fly(make_drone_env(), 600, seed=2)
    assert infos[-1]["outcome"] == "success" and rewards[-1] > 5
    assert infos[-1]["distance"] < 2.0 and abs(infos[-1]["bearing"]) < math.radians(20)
    # descending into the ground
    _, _, infos = fly(make_drone_env(), 200, seed=2, action=[0, 0, -1, 0])
    assert infos[-1]["outcome"] == "collision" and infos[-1]["collided_with"] == "ground"
    # spinning away from the target: lost after 2 s out of view
    _, _, infos = fly(make_drone_env(), 300, seed=2, action=[0, 0, 0, 1])
    assert infos[-1]["outcome"] == "target_lost"
    out = [not i["target_in_view"] for i in infos]
    assert sum(out) == 60
    # hovering: timeout at the time limit, as truncation
    env = make_drone_env(max_episode_steps=30)
    env.reset(seed=2)
    for _ in range(30):
        _, _, term, trunc, info = env.step(np.zeros(4, np.float32))
    assert trunc and not term and info["outcome"] == "timeout"


def test_tree_collision():
    env = make_drone_env(tree_density=0.0, bush_density=0.0)
    _, info = env.reset(seed=0, options={"target_bearing": 0.0, "target_distance": 20.0})
    u = env.unwrapped
    ahead = (info["x"] + 5 * math.cos(info["yaw"]), info["y"] + 5 * math.sin(info["yaw"]))
    u._obstacles = np.array([[*ahead, 0.8, 6.0, K_TREE]])
    for _ in range(200):
        _, _, term, _, info = env.step(np.array([2.0, 0, 0, 0], np.float32))
        if term:
            break
    assert info["outcome"] == "collision" and info["collided_with"] == "tree"
    assert math.hypot(info["x"] - ahead[0], info["y"] - ahead[1]) < 0.8 + 0.25 + 0.1


def test_world_keeps_start_target_and_corridor_clear():
    from lnn_drive.envs.config import appearance

    rng = np.random.default_rng(0)
    w = generate_world(
        rng,
        appearance("summer"),
        "summer",
        target=(15.0, 5.0),
        arena=45.0,
        tree_density=3.0,
        bush_density=1.0,
        clearings=3,
        corridor=1.5,
    )
    trees = w.objects[1:][w.objects[1:, 4] != 2]
    assert len(trees) > 100
    t = np.clip((trees[:, 0] * 15 + trees[:, 1] * 5) / (15**2 + 5**2), 0, 1)
    seg = np.hypot(trees[:, 0] - 15 * t, trees[:, 1] - 5 * t) - trees[:, 9]
    assert seg.min() >= 1.5
    assert np.hypot(trees[:, 0], trees[:, 1]).min() > 3.5


def test_expert_succeeds_in_every_season_with_gusts():
    for season in SEASONS:
        env = make_drone_env(season=season, gust_std=0.5, command_noise_std=0.03)
        outcomes = [fly(env, 600, seed=s)[2][-1]["outcome"] for s in range(2)]
        assert outcomes == ["success"] * 2, (season, outcomes)


def test_dart_noise_and_pickle():
    rng = np.random.default_rng(0)
    high = np.array([3, 3, 1, 1], np.float32)
    a = np.array([1.0, 0.0, 0.0, 0.5], np.float32)
    noisy = np.stack([dart_action(a, 0.1, high, rng) for _ in range(2000)])
    assert np.allclose(noisy.std(0), 0.1 * high, rtol=0.1)
    assert np.array_equal(dart_action(a, 0.0, high, rng), a)
    assert np.all(np.abs(dart_action(np.full(4, 9.0), 0.5, high, rng)) <= high)
    cfg = DroneConfig(season="fog")
    assert pickle.loads(pickle.dumps(cfg)) == cfg
    assert DroneConfig.from_mapping(cfg.to_dict()) == cfg


def test_env_group_equals_the_typed_defaults():
    import yaml

    from lnn_drive import PROJECT_ROOT

    d = yaml.safe_load((PROJECT_ROOT / "conf/env/drone.yaml").read_text())
    assert d.pop("id") == "lnn_drive/FlyToTarget-v0"
    assert DroneConfig.from_mapping(d) == DroneConfig()
