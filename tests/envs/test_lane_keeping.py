"""LaneKeeping-v0: gymnasium contract, determinism, bad input, crash modes, labels, expert."""

from __future__ import annotations

import pickle

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import lnn_drive.envs as envs
from lnn_drive.envs import LABEL_CLASSES, PRESETS, EnvConfig, env_fn, make_env

INFO_KEYS = {
    "lateral_offset",
    "heading_error",
    "distance",
    "road_curvature",
    "road_curvature_ahead",
    "on_road",
    "interventions",
    "intervened",
    "expert_action",
    "x",
    "y",
}


def drive(env: gym.Env, steps: int, *, seed: int, action=None, options=None):
    """Roll the expert (or a fixed action); return frames, rewards and infos."""
    obs, info = env.reset(seed=seed, options=options)
    frames, rewards, infos = [obs], [], [info]
    for _ in range(steps):
        a = info["expert_action"] if action is None else action
        obs, r, term, trunc, info = env.step(np.array([a], np.float32))
        frames.append(obs)
        rewards.append(r)
        infos.append(info)
        if term or trunc:
            break
    return frames, rewards, infos


def test_registered_and_check_env():
    env = gym.make("lnn_drive/LaneKeeping-v0", render_mode="rgb_array")
    assert env.spec.max_episode_steps == 1000
    check_env(env.unwrapped, skip_render_check=False)
    obs, _ = env.reset(seed=0)
    assert obs.shape == (78, 200, 3) and obs.dtype == np.uint8
    assert env.observation_space.contains(obs)
    assert np.array_equal(env.render(), obs)


def test_same_seed_same_rollout_different_seed_differs():
    a, b = make_env({}), make_env({})
    b.reset(seed=99)  # an earlier episode must not leak into the next one
    fa, ra, ia = drive(a, 60, seed=7, action=0.004)
    fb, rb, ib = drive(b, 60, seed=7, action=0.004)
    assert all(np.array_equal(x, y) for x, y in zip(fa, fb, strict=True))
    assert ra == rb
    assert [i["lateral_offset"] for i in ia] == [i["lateral_offset"] for i in ib]
    fc, _, _ = drive(a, 5, seed=8, action=0.004)
    assert not np.array_equal(fa[3], fc[3])


def test_noise_and_lag_are_deterministic_too():
    kw = dict(steer_noise_std=0.01, actuation_lag=0.2)
    _, _, ia = drive(make_env({}, **kw), 40, seed=3)
    _, _, ib = drive(make_env({}, **kw), 40, seed=3)
    assert [i["x"] for i in ia] == [i["x"] for i in ib]


def test_info_keys_every_step():
    frames, _, infos = drive(make_env({}), 5, seed=1)
    for info in infos:
        assert set(info) >= INFO_KEYS
        assert isinstance(info["on_road"], bool) and isinstance(info["intervened"], bool)
        assert abs(info["expert_action"]) <= envs.MAX_CURVATURE
    assert infos[-1]["distance"] == pytest.approx(5 * 10.0 / 30.0)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_action_raises(bad):
    env = make_env({})
    env.reset(seed=0)
    with pytest.raises(ValueError, match="finite"):
        env.step(np.array([bad], np.float32))


def test_action_shape_checked_and_out_of_bounds_clipped():
    env = make_env({})
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"shape \(1,\)"):
        env.step(np.zeros(2, np.float32))
    _, _, _, _, info = env.step(np.array([5.0], np.float32))
    assert info["command"] == pytest.approx(envs.MAX_CURVATURE)
    env.step(0.01)  # a plain number is accepted


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("speed", -1.0, "env.speed"),
        ("fov_deg", 170.0, "env.fov_deg"),
        ("height", 0, "env.height"),
        ("width", 0, "env.width"),
        ("crash_mode", "explode", "env.crash_mode"),
        ("max_road_curvature", 0.09, "env.max_road_curvature"),
    ],
)
def test_bad_config_names_field(field, value, match):
    with pytest.raises(ValueError, match=match):
        make_env({}, **{field: value})
    with pytest.raises(ValueError, match=match):
        env_fn({field: value})


def test_unknown_preset_and_option():
    with pytest.raises(ValueError, match="'desert'.*summer, autumn, winter, dusk, fog"):
        EnvConfig(preset="desert")
    with pytest.raises(ValueError, match="unknown env option"):
        make_env({"colour": "red"})
    env = make_env({})
    with pytest.raises(ValueError, match="unknown reset option"):
        env.reset(seed=0, options={"teleport": 1})
    with pytest.raises(ValueError, match="outside the lane"):
        env.reset(seed=0, options={"lateral_offset": 3.0})


def test_terminate_on_leaving_the_lane():
    env = make_env({}, crash_mode="terminate")
    _, rewards, infos = drive(env, 300, seed=2, action=0.05)
    thr = 3.5 / 2 + 0.25
    assert abs(infos[-1]["lateral_offset"]) > thr
    assert not infos[-1]["on_road"]
    assert rewards[-1] == -10.0
    assert all(abs(i["lateral_offset"]) <= thr for i in infos[:-1])
    assert len(infos) < 300


def test_intervention_counts_and_recentres():
    env = make_env({}, crash_mode="intervene", max_episode_steps=400)
    _, _, infos = drive(env, 400, seed=2, action=0.05)
    assert len(infos) == 401  # never terminates
    hits = [i for i in infos if i["intervened"]]
    assert len(hits) >= 2
    assert infos[-1]["interventions"] == len(hits)
    for i in hits:
        assert abs(i["lateral_offset"]) < 1e-4 and abs(i["heading_error"]) < 1e-4


def test_reset_options_place_the_car():
    env = make_env({})
    _, info = env.reset(
        seed=0, options={"lateral_offset": 0.5, "heading_error": 0.05, "start_s": 40}
    )
    assert info["lateral_offset"] == pytest.approx(0.5, abs=1e-6)
    assert info["heading_error"] == pytest.approx(0.05, abs=1e-6)


def test_expert_recovers_from_offset_and_drives_without_crash():
    env = make_env({}, max_episode_steps=600)
    _, _, infos = drive(
        env, 600, seed=12345, options={"lateral_offset": 1.2, "heading_error": -0.1}
    )
    assert len(infos) == 601 and all(i["on_road"] for i in infos)
    assert abs(infos[-1]["lateral_offset"]) < 0.2
    assert infos[-1]["distance"] == pytest.approx(200.0)


@pytest.mark.parametrize("preset", PRESETS)
def test_labels_and_presets(preset):
    env = make_env({}, preset=preset)
    obs, _ = env.reset(seed=4)
    lab = env.unwrapped.render_labels()
    assert lab.shape == obs.shape[:2] and lab.dtype == np.uint8
    assert set(np.unique(lab)) <= set(LABEL_CLASSES)
    assert (lab[0] == 0).mean() > 0.5  # sky at the top
    bottom = lab[-1]
    centre = bottom[bottom.size // 4 : 3 * bottom.size // 4]
    assert np.isin(centre, (2, 3)).mean() > 0.9  # road under the camera
    assert {2, 3} <= set(np.unique(lab))
    assert obs[-1].std() < obs.std()  # the image has structure beyond the road


def test_env_fn_is_picklable_and_builds():
    fn = env_fn({"preset": "fog"}, height=40, width=100)
    fn2 = pickle.loads(pickle.dumps(fn))
    env = fn2()
    obs, _ = env.reset(seed=0)
    assert obs.shape == (40, 100, 3)
    assert env.unwrapped.config.preset == "fog"


def test_async_vector_env():
    vec = gym.vector.AsyncVectorEnv([env_fn({}, height=32, width=64)] * 2)
    try:
        obs, info = vec.reset(seed=[0, 1])
        assert obs.shape == (2, 32, 64, 3)
        obs, *_, info = vec.step(np.zeros((2, 1), np.float32))
        assert info["expert_action"].shape == (2,)
    finally:
        vec.close()


def test_expert_drives_one_km_without_crash():
    from lnn_drive.envs.expert import drive_expert

    r = drive_expert({}, km=1.0, first_seed=5_000_000)
    assert r["crashes"] == 0 and r["km"] >= 1.0
    assert r["max_abs_offset"] < 0.5


@pytest.mark.slow
@pytest.mark.parametrize("expert", ["stanley", "pure_pursuit"])
def test_expert_drives_ten_km_of_unseen_roads_without_crash(expert):
    from lnn_drive.envs.expert import drive_expert

    r = drive_expert(EnvConfig(expert=expert), km=10.0, first_seed=1_000_000)
    assert r["crashes"] == 0 and r["km"] >= 10.0


@pytest.mark.parametrize(
    "kw", [{"fov_deg": 140.0}, {"height": 240, "width": 320}, {"pitch_deg": -20.0}]
)
def test_camera_settings_render(kw):
    env = make_env({}, **kw)
    obs, _ = env.reset(seed=0)
    obs, *_ = env.step(np.zeros(1, np.float32))
    assert obs.shape == (env.unwrapped.config.height, env.unwrapped.config.width, 3)
    lab = env.unwrapped.render_labels()
    if kw.get("pitch_deg", 0) < 0:
        # looking up: the frame is mostly sky, with less road than at the default pitch
        ref = make_env({})
        ref.reset(seed=0)
        ref.step(np.zeros(1, np.float32))
        ref_lab = ref.unwrapped.render_labels()
        assert (lab == 0).mean() > (ref_lab == 0).mean()
        assert (lab == 2).mean() < (ref_lab == 2).mean()
    else:
        assert (lab == 2).any()
