"""CarRacing-v3 through the adapter: units, the dashboard crop, the expert and the logs."""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pytest

from lnn_drive import PROJECT_ROOT
from lnn_drive.data.log import DrivingLog
from lnn_drive.envs.adapters import adapter_metadata, find_adapter, log_signals
from lnn_drive.envs.adapters.carracing import (
    DASHBOARD_ROWS,
    ENV_ID,
    INFO_SIGNALS,
    MAX_CURVATURE,
    CarRacingAdapter,
    CarRacingConfig,
    CollectConfig,
    collect,
    from_carracing_action,
    make_carracing,
    to_carracing_action,
)


@pytest.fixture(scope="module")
def env():
    e = make_carracing()
    yield e
    e.close()


def test_registered_and_made_through_gymnasium():
    e = gym.make(ENV_ID, config=CarRacingConfig(max_episode_steps=5))
    try:
        assert isinstance(find_adapter(e), CarRacingAdapter)
        obs, info = e.reset(seed=3)
        assert obs.shape == (96, 96, 3) and obs.dtype == np.uint8
        for _ in range(5):
            obs, _, term, trunc, info = e.step(info["expert_outputs"])
        assert trunc and not term  # CarRacing-v3's TimeLimit at the configured steps
    finally:
        e.close()


def test_spaces_and_info_declare_units_and_bounds(env):
    lo, hi = env.action_space.low, env.action_space.high
    assert np.allclose(lo, [-MAX_CURVATURE, -1]) and np.allclose(hi, [MAX_CURVATURE, 1])
    assert pytest.approx(math.tan(0.4) / 3.24) == MAX_CURVATURE
    obs, info = env.reset(seed=1)
    assert env.observation_space.contains(obs)
    assert set(INFO_SIGNALS) <= set(info)
    assert info["expert_outputs"].shape == (2,)
    meta = adapter_metadata(env)
    assert meta["units"] == {"steering": "1/m", "longitudinal": "1"}
    assert [o["high"] for o in meta["outputs"]] == pytest.approx([MAX_CURVATURE, 1.0])
    assert meta["preprocess"]["crop_bottom"] == DASHBOARD_ROWS


def test_action_conversion_and_its_sign():
    # Positive curvature turns left: CarRacing's steer (positive = right) is negative.
    a = to_carracing_action(np.array([0.1, 0.5]))
    assert a[0] == pytest.approx(-math.atan(0.1 * 3.24)) and a[1] == 0.5 and a[2] == 0.0
    b = to_carracing_action(np.array([-0.05, -0.3]))
    assert b[0] > 0 and b[1] == 0.0 and b[2] == pytest.approx(0.3)
    for phys in ([0.07, 0.4], [-0.12, -0.6], [0.0, 0.0]):
        assert np.allclose(
            from_carracing_action(to_carracing_action(np.array(phys))), phys, atol=1e-6
        )


def test_out_of_bounds_is_clipped_and_nan_refused(env):
    env.reset(seed=2)
    a = find_adapter(env)
    assert np.allclose(a.clip(np.array([5.0, -7.0])), [MAX_CURVATURE, -1.0])
    with pytest.raises(ValueError, match="non-finite"):
        env.step(np.array([np.nan, 0.0]))
    with pytest.raises(ValueError, match="shape"):
        env.step(np.array([0.0, 0.0, 0.0]))


def test_commanded_curvature_is_the_driven_curvature(env):
    """The steering unit is physical: at low speed the car's path curvature (yaw rate /
    speed) matches the commanded curvature."""
    env.reset(seed=4)
    k = 0.05
    curv = []
    for t in range(120):
        _, _, _, _, info = env.step(np.array([k, 0.15 if info_speed(env) < 8 else 0.0]))
        if t > 60:
            car = env.unwrapped.car.hull
            curv.append(car.angularVelocity / max(info["speed"], 1e-6))
    assert np.mean(curv) == pytest.approx(k, rel=0.25)


def info_speed(env) -> float:
    v = env.unwrapped.car.hull.linearVelocity
    return float(math.hypot(v[0], v[1]))


def test_preprocess_crops_exactly_the_dashboard(env):
    obs, info = env.reset(seed=5)
    for _ in range(60):  # past the zoom-in animation
        obs, _, _, _, info = env.step(info["expert_outputs"])
    dash = obs[-DASHBOARD_ROWS:].astype(float)
    view = obs[:-DASHBOARD_ROWS].astype(float)
    assert (dash.max(axis=2) < 10).mean() > 0.6  # black strip with small indicators
    assert view[-1].mean() > 60  # the last row kept is the scene, not the strip
    pre = find_adapter(env).preprocess()
    x = pre.geometry(obs)
    assert x.shape == (3, 96 - DASHBOARD_ROWS, 96)
    assert np.array_equal(x, obs[:-DASHBOARD_ROWS].transpose(2, 0, 1))


def test_same_seed_same_drive():
    runs = []
    for _ in range(2):
        e = make_carracing()
        obs, info = e.reset(seed=7)
        acts = []
        for _ in range(40):
            acts.append(info["expert_outputs"])
            obs, _, _, _, info = e.step(info["expert_outputs"])
        runs.append((np.array(acts), obs))
        e.close()
    assert np.array_equal(runs[0][0], runs[1][0]) and np.array_equal(runs[0][1], runs[1][1])


def test_expert_drives_fast_and_stays_on_the_road(env):
    obs, info = env.reset(seed=11)
    speeds, progress = [], []
    for _ in range(250):
        obs, _, term, _, info = env.step(info["expert_outputs"])
        speeds.append(info["speed"])
        progress.append(info["progress"])
        assert not term
    assert info["off_track_events"] == 0
    assert abs(info["lateral_offset"]) < 6.67  # inside the road's half-width
    assert max(speeds) > 60  # m/s: the speed plan lets it go
    assert np.all(np.diff(progress) >= 0) and progress[-1] > 0.25


@pytest.mark.slow
def test_expert_completes_a_lap_above_900(env):
    from lnn_drive.envs.adapters.carracing import run_expert_episode

    r = run_expert_episode(env, 2024)
    assert r.laps == 1 and r.off_track_events == 0 and r.ret > 900


def test_config_errors_name_the_option():
    with pytest.raises(ValueError, match="unknown env option.*colour"):
        CarRacingConfig.from_mapping({"colour": "red"})
    with pytest.raises(ValueError, match="unknown env.expert option.*kp"):
        CarRacingConfig.from_mapping({"expert": {"kp": 1}})
    with pytest.raises(ValueError, match="lap_complete_percent"):
        CarRacingConfig.from_mapping({"lap_complete_percent": 1.5})
    with pytest.raises(ValueError, match="a_lat"):
        CarRacingConfig.from_mapping({"expert": {"a_lat": -1}})
    # the env config group's own keys are accepted
    cfg = CarRacingConfig.from_mapping({"id": ENV_ID, "preprocess": {}, "domain_randomize": True})
    assert cfg.domain_randomize


def test_collect_two_episodes_and_read_them_back(tmp_path):
    out = tmp_path / "cr"
    s = collect(
        CollectConfig(out=str(out), episodes=2, seed=20, dart_steering=0.01),
        CarRacingConfig(max_episode_steps=40),
    )
    assert s["episodes"] == 2 and s["frames"] == 80
    log = DrivingLog(out)
    log.validate()
    assert (log.meta.height, log.meta.width) == (96, 96)
    assert log.meta.signals["steering"] == "1/m" and log.meta.signals["speed"] == "m/s"
    assert log.meta.extra["preprocess"]["crop_bottom"] == DASHBOARD_ROWS
    assert log.meta.extra["units"] == {"steering": "1/m", "longitudinal": "1"}
    assert [e.meta["seed"] for e in log.episodes] == [20, 21]
    sig = log.signals(log.episodes[0])
    assert np.allclose(np.diff(sig["timestamp"]), 0.02)
    gap = sig["command_steering"] - sig["steering"]  # DART: executed = label + noise
    assert 0.005 < gap.std() < 0.015
    assert np.all(np.abs(sig["steering"]) <= MAX_CURVATURE + 1e-9)
    assert sig["speed"][-1] > sig["speed"][0]
    frames = log.frames(log.episodes[1])
    assert frames.shape == (40, 96, 96, 3)
    # the frame recorded with label i is the observation the expert labelled
    e = make_carracing(CarRacingConfig(max_episode_steps=40))
    obs, _ = e.reset(seed=21)
    e.close()
    assert np.abs(frames[0].astype(int) - obs).max() == 0  # ffv1 is lossless


def test_collect_refuses_an_existing_dataset(tmp_path):
    out = tmp_path / "exists"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError):
        collect(CollectConfig(out=str(out), episodes=1), CarRacingConfig(max_episode_steps=3))
    assert (out / "keep.txt").read_text() == "mine"
    assert not (tmp_path / "exists.incomplete").exists()


def test_log_signals_cover_labels_commands_and_info(env):
    cols = log_signals(env)
    assert list(cols)[:4] == [
        "steering",
        "longitudinal",
        "command_steering",
        "command_longitudinal",
    ]
    assert set(INFO_SIGNALS) <= set(cols) and cols["episode_return"] == "1"


def test_collect_command_bad_option_is_one_error_line(tmp_path, capsys):
    from lnn_drive.commands import main

    rc = main(
        ["carracing-collect", f"out={tmp_path / 'x'}", "episodes=0", f"hydra.run.dir={tmp_path}"]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and err[-1].startswith("error: collect: episodes")
    assert not (tmp_path / "x").exists()
    rc = main(["carracing-collect", f"out={tmp_path / 'y'}", "env.expert.kp=1"])
    assert rc == 2 and "env.expert.kp" in capsys.readouterr().err


def test_expert_command_writes_every_episode(tmp_path, capsys):
    import json

    from lnn_drive.commands import main

    out = tmp_path / "expert.json"
    rc = main(
        [
            "carracing-expert",
            "episodes=2",
            "first_seed=1000",
            f"out={out}",
            f"hydra.run.dir={tmp_path / 'run'}",
        ]
    )
    assert rc == 0
    d = json.loads(out.read_text())
    assert [e["seed"] for e in d["episodes"]] == [1000, 1001]
    # the recorded figures of docs/carracing.md (docs/results/carracing_expert_100.json)
    ref = json.loads((PROJECT_ROOT / "docs/results/carracing_expert_100.json").read_text())
    assert [e["ret"] for e in d["episodes"]] == [e["ret"] for e in ref["episodes"][:2]]
    assert d["summary"]["mean"] > 900


def test_blind_mode_drives_exactly_the_same():
    """pixels=False skips only the drawing: same rewards, expert actions and signals."""
    runs = []
    for pixels in (True, False):
        e = make_carracing(pixels=pixels)
        obs, info = e.reset(seed=9)
        trace = []
        for _ in range(60):
            obs, r, _, _, info = e.step(info["expert_outputs"])
            trace.append([r, *info["expert_outputs"], info["speed"], info["lateral_offset"]])
        runs.append((np.array(trace), obs))
        e.close()
    assert np.array_equal(runs[0][0], runs[1][0])
    assert runs[0][1].max() > 0 and runs[1][1].max() == 0  # only the frames differ


class _Straight:
    """A learner that always drives straight with light gas."""

    def reset(self, batch_size: int = 1) -> None:
        return None

    def act(self, frame: np.ndarray) -> np.ndarray:
        return np.array([0.0, 0.2])


@pytest.mark.parametrize("beta", [0.0, 1.0])
def test_dagger_mixture_labels_learner_states_with_the_expert(beta):
    from lnn_drive.envs.adapters import AdapterMixtureRule
    from lnn_drive.envs.record import Episode, record_episodes

    e = make_carracing(pixels=False, max_episode_steps=30)
    rule = AdapterMixtureRule(
        policy=_Straight(),
        names=["steering", "longitudinal"],
        beta=beta,
        rng=np.random.default_rng(0),
    )
    seen = []
    stats = record_episodes(
        e, None, rule, episodes=[Episode(seed=12)], on_step=lambda o, i, d: seen.append(d)
    )
    e.close()
    assert stats.frames == 30 and stats.expert_frames == (30 if beta else 0)
    for d in seen:
        assert d.labels["steering"] != 0.0  # the expert's label, not the learner's 0
        executed = d.labels["command_steering"]
        assert executed == (d.labels["steering"] if beta else 0.0)
