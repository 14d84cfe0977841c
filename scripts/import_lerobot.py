"""`import-lerobot`: a LeRobot v3.0 dataset -> lnn_drive dataset; see conf/import_lerobot.yaml."""

import hydra
from omegaconf import DictConfig

from lnn_drive.cli import dataclass_from_cfg, user_errors
from lnn_drive.data.lerobot import LeRobotImportConfig, import_lerobot


@hydra.main(version_base="1.3", config_path="../conf", config_name="import_lerobot")
def main(cfg: DictConfig) -> None:
    with user_errors():
        s = import_lerobot(dataclass_from_cfg(LeRobotImportConfig, cfg))
        print(f"wrote {s.frames} frames in {s.episodes} episode(s) to {s.out}")
        for note in s.notes:
            print(f"note: {note}")


if __name__ == "__main__":
    main()
