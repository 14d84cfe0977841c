"""`drive`: drive a simulator yourself (keyboard / gamepad), recorded as a log; with
checkpoint=... the policy drives and you take over. See conf/drive.yaml."""

import hydra
from omegaconf import DictConfig

from lnn_drive.cli import dataclass_from_cfg, user_errors
from lnn_drive.teleop import DriveConfig, drive


@hydra.main(version_base="1.3", config_path="../conf", config_name="drive")
def main(cfg: DictConfig) -> None:
    with user_errors():
        s = drive(dataclass_from_cfg(DriveConfig, cfg))
        print(
            f"recorded {s['frames']} frames in {s['episodes']} episode(s) to {s['out']}; "
            f"you drove {s['human_frames']} frames, {s['takeovers']} takeover(s)"
        )


if __name__ == "__main__":
    main()
