"""`export`: see conf/export.yaml for options."""

import hydra
from omegaconf import DictConfig

from lnn_drive.cli import dataclass_from_cfg, user_errors


@hydra.main(version_base="1.3", config_path="../conf", config_name="export")
def main(cfg: DictConfig) -> None:
    with user_errors():
        from lnn_drive.deploy.export import ExportConfig, export, export_summary

        print(export_summary(export(dataclass_from_cfg(ExportConfig, cfg))))


if __name__ == "__main__":
    main()
