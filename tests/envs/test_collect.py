"""Expert collection writes a valid driving log through LogWriter."""

from __future__ import annotations

import numpy as np
import pytest

from lnn_drive.commands.collect import configs
from lnn_drive.data.log import DrivingLog
from lnn_drive.envs.collect import SIGNALS
from lnn_drive.envs.collect import collect as collect_typed


def collect(cfg):
    """Collect with the typed configs of a composed ``conf/collect.yaml``."""
    return collect_typed(*configs(cfg))


def test_collect_writes_a_valid_log(compose_cfg, tmp_path):
    out = tmp_path / "sim"
    cfg = compose_cfg(
        "collect",
        [
            f"out={out}",
            "episodes=2",
            "steps=30",
            "presets=[fog,winter]",
            "dart.std=0.02",
            "progress=false",
            "env.height=40",
            "env.width=100",
        ],
    )
    s = collect(cfg)
    assert s["frames"] == 60 and s["crashes"] == 0
    log = DrivingLog(out)
    log.validate()
    assert log.meta.signals == SIGNALS
    assert (log.meta.height, log.meta.width) == (40, 100)
    assert [e.meta["preset"] for e in log.episodes] == ["fog", "winter"]
    assert [e.meta["seed"] for e in log.episodes] == [0, 1]
    sig = log.signals(log.episodes[0])
    assert np.allclose(np.diff(sig["timestamp"]), 1 / 30)
    assert np.all(sig["speed"] == 10.0)
    # DART: the executed command is the clean label plus noise
    gap = sig["command"] - sig["steering"]
    assert 0.01 < gap.std() < 0.03
    assert np.abs(sig["lateral_offset"]).max() < 1.0


def test_collect_is_repeatable(compose_cfg, tmp_path):
    runs = []
    for name in ("a", "b"):
        cfg = compose_cfg(
            "collect",
            [
                f"out={tmp_path / name}",
                "episodes=1",
                "steps=10",
                "progress=false",
                "env.height=32",
                "env.width=64",
            ],
        )
        collect(cfg)
        log = DrivingLog(tmp_path / name)
        runs.append(log.signals(log.episodes[0]))
    for k in SIGNALS:
        assert np.array_equal(runs[0][k], runs[1][k])


def test_collect_bad_input(compose_cfg, tmp_path):
    with pytest.raises(ValueError, match="out"):
        collect(compose_cfg("collect", ["episodes=1"]))
    with pytest.raises(ValueError, match="unknown preset 'mars'"):
        collect(compose_cfg("collect", [f"out={tmp_path}/x", "presets=[mars]"]))
    with pytest.raises(ValueError, match="env.speed"):
        collect(compose_cfg("collect", [f"out={tmp_path}/x", "env.speed=-3"]))
