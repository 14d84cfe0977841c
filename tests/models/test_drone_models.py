"""4-output models for the drone: configs build, train a few steps on a collected drone
log, and fly in FlyToTarget-v0."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from lnn_drive import PROJECT_ROOT
from lnn_drive.commands.config import train_kwargs
from lnn_drive.data.preprocess import Preprocess
from lnn_drive.envs.drone_collect import DroneCollectConfig, collect_drone
from lnn_drive.envs.fly_to_target import make_drone_env
from lnn_drive.models import Policy
from lnn_drive.train import train

TARGETS = ["vx", "vy", "vz", "yaw_rate"]
UNITS = {"vx": "m/s", "vy": "m/s", "vz": "m/s", "yaw_rate": "rad/s"}


def _policy(name: str, h: int, w: int) -> Policy:
    cfg = yaml.safe_load((PROJECT_ROOT / "conf" / "model" / f"{name}.yaml").read_text())
    return Policy(
        model_cfg=cfg,
        preprocess=Preprocess(height=h, width=w).with_input(h, w),
        output_names=TARGETS,
        units=UNITS,
        target_mean=np.zeros(4),
        target_std=np.ones(4),
    )


@pytest.mark.parametrize(
    ("name", "h", "w", "groups"),
    [
        ("ncp_cfc_drone", 72, 128, (9, 6, 4)),
        ("ncp_ltc_drone", 72, 128, (9, 6, 4)),
        ("ncp_ltc_drone34", 144, 256, (18, 12, 4)),
    ],
)
def test_drone_ncp_wirings(name, h, w, groups):
    p = _policy(name, h, w)
    g = p.controller.neuron_groups()
    assert (len(g["inter"]), len(g["command"]), len(g["motor"])) == groups
    p.reset(1)
    assert p.act(np.zeros((h, w, 3), np.uint8)).shape == (4,)


def test_motor_neurons_must_match_targets():
    cfg = yaml.safe_load((PROJECT_ROOT / "conf/model/ncp_cfc_drone.yaml").read_text())
    with pytest.raises(ValueError, match="motor_neurons"):
        Policy(
            model_cfg=cfg,
            preprocess=Preprocess(height=24, width=48).with_input(24, 48),
            output_names=["steering"],
            units={"steering": "1/m"},
            target_mean=np.zeros(1),
            target_std=np.ones(1),
        )


@pytest.mark.parametrize("model", ["ncp_cfc_drone", "lstm"])
def test_train_on_collected_drone_log_then_fly(model, compose_cfg, tmp_path: Path):
    h, w = 24, 48
    root = tmp_path / "drone"
    collect_drone(
        DroneCollectConfig(out=str(root), episodes=3, steps=40, dart_std=0.05),
        {"height": h, "width": w},
    )
    cfg = compose_cfg(
        "train",
        [
            "data=drone",
            f"model={model}",
            f"data.roots=[{root}]",
            "data.window=4",
            "data.stride=4",
            "data.batch_size=3",
            "data.val_fraction=0.34",
            f"data.preprocess.height={h}",
            f"data.preprocess.width={w}",
            "train.max_steps=4",
            "train.val_every=2",
            "train.checkpoint_every=2",
            "train.progress=false",
            "train.threads=1",
        ],
    )
    result = train(**train_kwargs(cfg))
    assert result["steps"] == 4 and np.isfinite(result["val_loss"])
    policy = Policy.load(Path(result["run_dir"]) / "checkpoints" / "last.pt")
    assert policy.output_names == TARGETS
    env = make_drone_env(height=h, width=w)
    obs, _ = env.reset(seed=5)
    policy.reset(1)
    high = env.action_space.high
    for _ in range(10):
        a = np.clip(policy.act(obs), -high, high).astype(np.float32)
        assert a.shape == (4,) and np.isfinite(a).all()
        obs, _, term, trunc, info = env.step(a)
        if term or trunc:
            break
    assert info["steps"] >= 1
