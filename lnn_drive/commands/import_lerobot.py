"""`import-lerobot`: a LeRobot v3.0 dataset (a local folder) -> an lnn_drive dataset.

lnn-drive import-lerobot root=/tmp/sample_lerobot out=data/from_lerobot [camera=front] [episodes=[0,1]]
"""

from __future__ import annotations

from omegaconf import DictConfig

from lnn_drive.commands.config import to_dataclass
from lnn_drive.commands.inspect import report_import
from lnn_drive.data.lerobot import LeRobotImportConfig, import_lerobot

CONFIG = "import_lerobot"


def run(cfg: DictConfig) -> int:
    """Import; print the summary of the new dataset."""
    report_import(
        import_lerobot(
            to_dataclass(LeRobotImportConfig, cfg, ignore=("paths", "task_name"))
        ).to_dict()
    )
    return 0
