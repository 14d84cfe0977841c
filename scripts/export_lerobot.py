"""`export-lerobot`: an lnn_drive dataset -> LeRobot v3.0 dataset; see conf/export_lerobot.yaml."""

import hydra
from omegaconf import DictConfig

from lnn_drive.cli import dataclass_from_cfg, user_errors
from lnn_drive.data.lerobot import LeRobotExportConfig, export_lerobot


@hydra.main(version_base="1.3", config_path="../conf", config_name="export_lerobot")
def main(cfg: DictConfig) -> None:
    with user_errors():
        s = export_lerobot(dataclass_from_cfg(LeRobotExportConfig, cfg))
        print(f"wrote {s.frames} frames in {s.episodes} episode(s) to {s.out} (LeRobot v3.0)")
        for note in s.notes:
            print(f"note: {note}")


if __name__ == "__main__":
    main()
