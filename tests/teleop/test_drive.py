"""Drive it yourself, headless: scripted key events through pygame's event queue produce a
valid log whose steering follows the keys; a policy's takeovers are counted and labelled."""

from __future__ import annotations

import json
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

pytest.importorskip("pygame")

from lnn_drive.data import DrivingLog  # noqa: E402
from lnn_drive.teleop import DriveConfig, KeyMap, drive  # noqa: E402
from lnn_drive.train.checkpoint import save_checkpoint  # noqa: E402
from tests.models.test_models import make_policy  # noqa: E402

ENV = {"height": 78, "width": 200, "object_density": 2.0}


def _script(tmp_path: Path, events: list[tuple[int, str, bool]]) -> str:
    p = tmp_path / "keys.json"
    p.write_text(json.dumps([{"step": s, "key": k, "down": d} for s, k, d in events]))
    return str(p)


def _cfg(tmp_path: Path, **kw) -> DriveConfig:
    return DriveConfig(
        out=str(tmp_path / "log"), env=ENV, headless=True, realtime=False, max_steps=36, **kw
    )


def test_scripted_keys_steer_and_steering_changes_sign(tmp_path: Path) -> None:
    keys = _script(tmp_path, [(0, "left", True), (12, "left", False), (12, "right", True)])
    s = drive(_cfg(tmp_path, key_script=keys, key_rate=0.5))
    assert s["frames"] == 36 and s["takeovers"] == 0 and s["human_frames"] == 36
    log = DrivingLog(s["out"])
    log.validate()
    sig = log.signals(log.episodes[0])
    steer = sig["steering"]
    assert np.all(steer[2:12] > 0.01)  # left arrow: positive curvature (turning left)
    assert np.all(steer[16:] < -0.01)  # right arrow: negative
    assert np.all(sig["human"] == 1)
    assert log.meta.signals["steering"] == "1/m"
    assert {"lateral_offset", "heading_error", "expert_action"} <= set(log.meta.signals)
    # the car really turned: heading error goes positive, then back down
    he = sig["heading_error"]
    assert he[12] > he[1] and he[-1] < he[12]


def test_policy_drives_and_takeover_is_a_labelled_correction(tmp_path: Path) -> None:
    ck = save_checkpoint(tmp_path / "p.pt", policy=make_policy("ncp_cfc"))
    keys = _script(tmp_path, [(10, "right", True), (20, "right", False)])
    s = drive(
        _cfg(
            tmp_path, checkpoint=str(ck), key_script=keys, key_rate=1.0, saliency=True, neurons=True
        )
    )
    assert s["takeovers"] == 1 and s["human_frames"] == 10
    log = DrivingLog(s["out"])
    ep = log.episodes[0]
    sig = log.signals(ep)
    human = sig["human"].astype(bool)
    assert human[10:20].all() and not human[:10].any() and not human[20:].any()
    np.testing.assert_allclose(sig["steering"][~human], sig["policy_steering"][~human], atol=1e-6)
    assert np.all(sig["steering"][human] < 0)
    assert sig["takeover"].sum() == 1 and sig["takeover"][10] == 1  # counted in the log
    assert ep.meta["driver"] == "policy"


def test_backspace_ends_the_episode_and_escape_the_drive(tmp_path: Path) -> None:
    keys = _script(tmp_path, [(5, "backspace", True), (8, "escape", True)])
    s = drive(_cfg(tmp_path, key_script=keys, episodes=3))
    log = DrivingLog(s["out"])
    assert [e.num_frames for e in log.episodes] == [5, 3] and s["episodes"] == 2
    assert [e.meta["seed"] for e in log.episodes] == [0, 1]


def test_keymap_is_generic_over_action_spaces() -> None:
    box = KeyMap.for_env(
        "CarRacing-v3", gym.spaces.Box(np.array([-1, 0, 0]), np.array([1, 1, 1])), gain=1.0
    )
    a = box.target({"left", "up"})
    np.testing.assert_allclose(a, [-1, 1, 0])  # CarRacing: -1 steers left
    disc = KeyMap(space=gym.spaces.Discrete(5))
    assert disc.target({"3"})[0] == 3 and disc.target(set())[0] == 0
    with pytest.raises(ValueError, match="dimensions"):
        KeyMap(space=gym.spaces.Box(-1, 1, (7,)))


def test_other_registered_env(tmp_path: Path) -> None:
    pytest.importorskip("Box2D")
    keys = _script(tmp_path, [(0, "up", True), (3, "left", True)])
    s = drive(
        DriveConfig(
            out=str(tmp_path / "cr"),
            env_id="CarRacing-v3",
            headless=True,
            realtime=False,
            max_steps=8,
            key_script=keys,
            scale=2,
        )
    )
    sig = DrivingLog(s["out"]).signals(DrivingLog(s["out"]).episodes[0])
    assert sig["throttle"][2] > 0 and sig["steering"][7] < 0


def test_project_carracing_adapter(tmp_path: Path) -> None:
    pytest.importorskip("Box2D")
    keys = _script(tmp_path, [(0, "up", True), (3, "left", True)])
    s = drive(
        DriveConfig(
            out=str(tmp_path / "ad"),
            env_id="lnn_drive/CarRacing-v3",
            headless=True,
            realtime=False,
            max_steps=8,
            key_script=keys,
            scale=2,
        )
    )
    log = DrivingLog(s["out"])
    sig = log.signals(log.episodes[0])
    assert log.meta.signals["steering"] == "1/m"
    assert sig["longitudinal"][2] > 0 and sig["steering"][7] > 0  # left = positive curvature


def test_cli_bad_key_script_is_one_error(tmp_path: Path, run_command) -> None:
    bad = tmp_path / "k.json"
    bad.write_text('[{"key": "left"}]')
    code, _, err = run_command(
        ["drive", *[f"out={tmp_path / 'o'}", "headless=true", f"key_script={bad}"]]
    )
    assert code == 2 and err.startswith("error: ") and "entry 0" in err
    assert not (tmp_path / "o").exists()
