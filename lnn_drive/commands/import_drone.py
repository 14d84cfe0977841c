"""`import-drone`: drone_causality-style flights (numbered images + a CSV of vx, vy, vz,
omega_z per frame) -> a dataset, one episode per flight folder.

lnn-drive import-drone log_dir=flights/ out=data/flights fps=10
"""

from __future__ import annotations

from omegaconf import DictConfig

from lnn_drive.commands.config import to_dataclass
from lnn_drive.commands.inspect import report_import
from lnn_drive.data.importers import DroneImportConfig, import_drone_causality

CONFIG = "import_drone"


def run(cfg: DictConfig) -> int:
    """Import; print the summary of the new dataset."""
    icfg = to_dataclass(DroneImportConfig, cfg, ignore=("paths", "task_name"))
    report_import(import_drone_causality(icfg).to_dict())
    return 0
