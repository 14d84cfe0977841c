"""`import_drone`: drone_causality-style flights -> dataset; see conf/import_drone.yaml."""

import hydra
from omegaconf import DictConfig

from lnn_drive.cli import dataclass_from_cfg, user_errors
from lnn_drive.data.importers import DroneImportConfig, import_drone_causality
from lnn_drive.data.inspect_log import format_summary, summarize


def run(cfg: DictConfig) -> dict:
    """Typed config from the composed one, import, print the summary."""
    summary = import_drone_causality(dataclass_from_cfg(DroneImportConfig, cfg)).to_dict()
    print(
        f"wrote {summary['frames']} frames in {summary['episodes']} episode(s) to {summary['out']}"
    )
    print(format_summary(summarize(summary["out"])))
    return summary


@hydra.main(version_base="1.3", config_path="../conf", config_name="import_drone")
def main(cfg: DictConfig) -> None:
    with user_errors():
        run(cfg)


if __name__ == "__main__":
    main()
