"""`collect-drone`: fly the drone's privileged expert into a driving log (DART noise for
recovery data; labels vx, vy, vz in m/s and yaw_rate in rad/s).

lnn-drive collect-drone out=data/drone episodes=80 seasons=[summer] dart_std=0.05
"""

from __future__ import annotations

from omegaconf import DictConfig

from lnn_drive.commands.config import JOB_KEYS, plain, to_dataclass
from lnn_drive.envs.drone_collect import DroneCollectConfig, collect_drone
from lnn_drive.envs.drone_config import DroneConfig

CONFIG = "collect_drone"


def configs(cfg: DictConfig) -> tuple[DroneCollectConfig, DroneConfig]:
    """The typed configs of a composed ``conf/collect_drone.yaml``."""
    options = {k: v for k, v in plain(cfg).items() if k not in JOB_KEYS}
    return to_dataclass(DroneCollectConfig, options), DroneConfig.from_mapping(plain(cfg.env))


def run(cfg: DictConfig) -> int:
    """Collect, then print one summary line."""
    s = collect_drone(*configs(cfg))
    outcomes = ", ".join(f"{v} {k}" for k, v in sorted(s["outcomes"].items()))
    print(
        f"wrote {s['frames']} frames in {s['episodes']} episodes ({outcomes}) to {s['out']} "
        f"in {s['seconds']:.1f} s"
    )
    return 0
