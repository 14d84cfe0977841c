"""Expert flights recorded into the driving-log format."""

from __future__ import annotations

import numpy as np
import pytest

from lnn_drive.data.log import DrivingLog
from lnn_drive.envs.drone_collect import DRONE_SIGNALS, DroneCollectConfig, collect_drone

SMALL = {"height": 24, "width": 48}


def test_collect_drone_writes_a_valid_log(tmp_path):
    out = tmp_path / "drone"
    s = collect_drone(
        DroneCollectConfig(out=str(out), episodes=2, seasons=("fog", "winter"), dart_std=0.05),
        SMALL,
    )
    assert s["outcomes"] == {"success": 2}
    log = DrivingLog(out)
    log.validate()
    assert log.meta.signals == DRONE_SIGNALS
    assert log.meta.signals["vx"] == "m/s" and log.meta.signals["yaw_rate"] == "rad/s"
    assert log.meta.extra["labels"] == ["vx", "vy", "vz", "yaw_rate"]
    assert (log.meta.height, log.meta.width) == (24, 48)
    assert [e.meta["season"] for e in log.episodes] == ["fog", "winter"]
    sig = log.signals(log.episodes[0])
    assert s["frames"] == sum(e.num_frames for e in log.episodes)
    assert np.allclose(np.diff(sig["timestamp"]), 1 / 30)
    # DART: executed = clean label + noise of 5% of each bound (3, 3, 1, 1)
    gap = np.stack([sig[f"cmd_{k}"] - sig[k] for k in ("vx", "vy", "vz", "yaw_rate")], 1)
    assert np.allclose(gap.std(0), [0.15, 0.15, 0.05, 0.05], rtol=0.35)
    # the flight closes in on the target
    assert sig["distance"][-1] < 2.2 < 8.0 < sig["distance"][0]  # last frame: one step before


def test_collect_drone_is_repeatable_and_validates(tmp_path):
    runs = []
    for name in ("a", "b"):
        s = collect_drone(DroneCollectConfig(out=str(tmp_path / name), episodes=1, steps=15), SMALL)
        assert s["outcomes"] == {"cut": 1}
        log = DrivingLog(tmp_path / name)
        runs.append(log.signals(log.episodes[0]))
        assert log.episodes[0].num_frames == 15
    for k in DRONE_SIGNALS:
        assert np.array_equal(runs[0][k], runs[1][k])
    with pytest.raises(ValueError, match="out"):
        DroneCollectConfig(out="")
    with pytest.raises(ValueError, match="unknown season 'mars'"):
        DroneCollectConfig(out="x", seasons=("mars",))
    with pytest.raises(ValueError, match="dart_std"):
        DroneCollectConfig(out="x", dart_std=2.0)
    with pytest.raises(ValueError, match="env.fps"):
        collect_drone(DroneCollectConfig(out=str(tmp_path / "c")), {"fps": 0})
    assert not (tmp_path / "c").exists()
