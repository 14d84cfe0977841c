"""The hard task profile: gymnasium contract, determinism, each added difficulty doing
what it says, the strict failure counts, the YAML matching the Python profile, and the
expert driving it."""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from lnn_drive.envs import EnvConfig, make_env
from lnn_drive.envs.config import PROFILES
from lnn_drive.envs.traffic import KIND_VEHICLE

CONF = Path(__file__).resolve().parents[2] / "conf"


def hard(**kw) -> gym.Env:
    return make_env(EnvConfig.from_profile("hard", **kw), render_mode="rgb_array")


def rollout(env: gym.Env, steps: int, seed: int):
    obs, info = env.reset(seed=seed)
    frames, infos = [obs], [info]
    for _ in range(steps):
        obs, _, term, trunc, info = env.step(np.array([info["expert_action"]], np.float32))
        frames.append(obs)
        infos.append(info)
        if term or trunc:
            break
    return frames, infos


def test_check_env_and_registered_id():
    env = gym.make("lnn_drive/LaneKeepingHard-v0", render_mode="rgb_array")
    assert env.unwrapped.config == EnvConfig.from_profile("hard")
    check_env(env.unwrapped, skip_render_check=False)


def test_same_seed_same_rollout_different_seed_differs():
    a, b = hard(), hard()
    b.reset(seed=3)  # an earlier episode must not leak into the next one
    fa, ia = rollout(a, 150, seed=11)
    fb, ib = rollout(b, 150, seed=11)
    assert all(np.array_equal(x, y) for x, y in zip(fa, fb, strict=True))
    assert [i["lateral_offset"] for i in ia] == [i["lateral_offset"] for i in ib]
    assert [i["frame_status"] for i in ia] == [i["frame_status"] for i in ib]
    fc, _ = rollout(a, 5, seed=12)
    assert not np.array_equal(fa[5], fc[5])


def test_episode_speed_drawn_in_range_and_driven():
    env = hard()
    speeds = set()
    for seed in range(6):
        _, info = env.reset(seed=seed)
        assert 15.0 <= info["speed"] <= 20.0
        speeds.add(info["speed"])
        *_, info = env.step(np.zeros(1, np.float32))
        assert info["distance"] == pytest.approx(info["speed"] / 30.0)
    assert len(speeds) == 6


def test_repeated_and_dropped_frames():
    env = hard(
        frame_repeat_prob=0.2, frame_drop_prob=0.2, pitch_jitter_deg=0.0, roll_jitter_deg=0.0
    )
    frames, infos = rollout(env, 200, seed=4)
    status = np.array([i["frame_status"] for i in infos])
    assert status[0] == 0
    assert 20 < (status == 1).sum() < 70 and 20 < (status == 2).sum() < 70
    for t in np.flatnonzero(status == 1):
        assert np.array_equal(frames[t], frames[t - 1])
    for t in np.flatnonzero(status == 2):
        assert not frames[t].any()
    fresh = np.flatnonzero(status[1:] == 0) + 1
    assert not np.array_equal(frames[fresh[0]], frames[fresh[0] - 1])


def test_frame_outages_last_several_frames():
    kw = {"frame_repeat_prob": 0.03, "frame_drop_prob": 0.03, "pitch_jitter_deg": 0.0}
    env = hard(frame_outage_frames=10, roll_jitter_deg=0.0, **kw)
    frames, infos = rollout(env, 400, seed=6)
    status = np.array([i["frame_status"] for i in infos])
    # runs of one non-zero status: at most 10 frames each unless two events touch
    runs, t = [], 0
    while t < len(status):
        if status[t]:
            u = t
            while u < len(status) and status[u] == status[t]:
                u += 1
            runs.append(u - t)
            t = u
        else:
            t += 1
    assert runs and max(runs) > 1 and np.mean(runs) > 2
    for t in np.flatnonzero(status == 1):
        assert np.array_equal(frames[t], frames[t - 1])  # a frozen camera: the same frame
    for t in np.flatnonzero(status == 2):
        assert not frames[t].any()
    # the same seed, the same outages
    _, again = rollout(hard(frame_outage_frames=10, roll_jitter_deg=0.0, **kw), 400, seed=6)
    assert [i["frame_status"] for i in again] == status.tolist()


@pytest.mark.parametrize("bad", [0, 61, 1.5, True, "3"])
def test_frame_outage_frames_is_validated(bad):
    with pytest.raises(ValueError, match="frame_outage_frames"):
        EnvConfig(frame_outage_frames=bad)


def test_camera_jitter_tilts_the_frame():
    kw = {"frame_repeat_prob": 0.0, "frame_drop_prob": 0.0}
    still = hard(pitch_jitter_deg=0.0, roll_jitter_deg=0.0, **kw)
    shaky = hard(pitch_jitter_deg=2.0, roll_jitter_deg=5.0, **kw)
    fs, _ = rollout(still, 10, seed=5)
    fj, _ = rollout(shaky, 10, seed=5)
    assert all(not np.array_equal(a, b) for a, b in zip(fs, fj, strict=True))
    u = shaky.unwrapped
    pitch, roll = u._tilt
    assert abs(pitch) > 0 and abs(roll) > 0
    assert np.array_equal(
        u.render_labels(),
        u.renderer.render_labels(u.x, u.y, u.yaw, u.s, extra=u._vehicles(), tilt=u._tilt),
    )

    def horizon_slope(lab):  # sky rows of the left quarter minus those of the right one
        rows = (lab == 0).sum(axis=0)
        return rows[: rows.size // 4].mean() - rows[-rows.size // 4 :].mean()

    r = still.unwrapped
    flat = r.renderer.render_labels(r.x, r.y, r.yaw, r.s)
    assert np.array_equal(flat, r.renderer.render_labels(r.x, r.y, r.yaw, r.s, tilt=(0.0, 0.0)))
    rolled = r.renderer.render_labels(r.x, r.y, r.yaw, r.s, tilt=(0.0, np.radians(5.0)))
    # the horizon turns by the roll: 150 px apart, tan(5 deg) x 150 = 13 px
    assert abs(horizon_slope(rolled) - horizon_slope(flat)) > 8


def test_markings_fade_and_go_missing():
    env = hard(marking_fade=0.9, marking_missing=1.0)
    env.reset(seed=6)
    marking = []
    for _ in range(300):
        env.step(np.array([env.unwrapped._info(False)["expert_action"]], np.float32))
        marking.append((env.unwrapped.render_labels() == 3).mean())
    crisp = make_env({}, render_mode=None)
    crisp.reset(seed=6)
    assert np.mean(np.array(marking) == 0) > 0.2  # whole frames without any marking
    lab = crisp.unwrapped.render_labels()
    assert (lab == 3).mean() > 0.005  # the easy road always shows them


def test_vehicles_are_drawn_on_the_road():
    env = hard(
        parked_density=10.0, oncoming_density=10.0, frame_drop_prob=0.0, frame_repeat_prob=0.0
    )
    env.reset(seed=8)
    traffic = env.unwrapped.traffic
    assert len(traffic) > 20 and (traffic.table[:, 3] == KIND_VEHICLE).all()
    s0 = traffic.table[traffic.v < 0, 2].copy()
    env.step(np.zeros(1, np.float32))
    assert np.allclose(traffic.table[traffic.v < 0, 2], s0 - 15.0 / 30.0)  # oncoming
    u = env.unwrapped
    with_cars = u.renderer.render_labels(u.x, u.y, u.yaw, u.s, extra=u._vehicles())
    without = u.renderer.render_labels(u.x, u.y, u.yaw, u.s)
    changed = with_cars != without
    assert changed.any() and (with_cars[changed] == 4).all()  # object pixels over the road


def test_strict_departures_counted_once_per_excursion():
    env = make_env({"crash_mode": "intervene"}, render_mode=None)
    _, info = env.reset(seed=2)
    infos = []
    for _ in range(400):  # a steady left turn: out of the lane, recentred, out again
        _, _, _, _, info = env.step(np.array([0.02], np.float32))
        infos.append(info)
    d1 = np.array([i["departure_1m"] for i in infos])
    dl = np.array([i["lane_departure"] for i in infos])
    assert infos[-1]["departures_1m"] == int((d1[1:] & ~d1[:-1]).sum() + d1[0])
    assert infos[-1]["lane_departures"] == int((dl[1:] & ~dl[:-1]).sum() + dl[0])
    assert (
        infos[-1]["departures_1m"]
        >= infos[-1]["lane_departures"]
        >= infos[-1]["interventions"]
        >= 1
    )
    for i in infos:
        assert i["departure_1m"] == (abs(i["lateral_offset"]) > 1.0) or i["intervened"]


def test_yaml_profile_equals_python_profile():
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        for option, profile in (("lane_keeping", "easy"), ("lane_keeping_hard", "hard")):
            cfg = compose("collect", overrides=[f"env={option}", "out=x"])
            env = OmegaConf.to_container(cfg.env, resolve=True)
            assert EnvConfig.from_mapping(env) == EnvConfig.from_profile(profile)
    assert set(PROFILES) == {"easy", "hard"}


def test_benchmark_hard_experiment_is_the_benchmark_on_the_hard_profile():
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        hard_cfg = compose("benchmark", overrides=["experiment=benchmark_hard"])
        easy_cfg = compose("benchmark")
    env = OmegaConf.to_container(hard_cfg.env, resolve=True)
    assert EnvConfig.from_mapping(env) == EnvConfig.from_profile("hard")
    for key in ("collect", "train", "dagger", "eval", "benchmark"):
        assert hard_cfg[key] == easy_cfg[key], key


def test_expert_drives_the_hard_profile_without_departures():
    from lnn_drive.envs.expert import drive_expert

    r = drive_expert(EnvConfig.from_profile("hard"), km=1.5, first_seed=10_000)
    assert r["crashes"] == 0 and r["lane_departures"] == 0 and r["departures_1m"] == 0
    assert r["max_abs_offset"] < 0.6


@pytest.mark.slow
def test_expert_drives_20_km_of_hard_test_roads_without_intervention():
    from lnn_drive.envs.expert import drive_expert

    r = drive_expert(EnvConfig.from_profile("hard"), km=20.0, first_seed=10_000)
    assert r["km"] >= 20.0 and r["crashes"] == 0 and r["departures_1m"] == 0


def test_profile_argument_checked():
    with pytest.raises(ValueError, match="unknown env profile 'medium'"):
        gym.make("lnn_drive/LaneKeeping-v0", profile="medium")
    with pytest.raises(ValueError, match="either config or profile"):
        gym.make("lnn_drive/LaneKeeping-v0", profile="hard", config=EnvConfig())
    env = gym.make("lnn_drive/LaneKeeping-v0", profile="hard", speed_max=16.0)
    assert env.unwrapped.config == EnvConfig.from_profile("hard", speed_max=16.0)
    with pytest.raises(ValueError, match="env.speed_max"):
        EnvConfig.from_profile("hard", speed_max=12.0)  # below speed
