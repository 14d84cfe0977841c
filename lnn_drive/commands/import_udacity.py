"""`import-udacity`: a Udacity simulator log (driving_log.csv + IMG/) -> a dataset.

lnn-drive import-udacity log_dir=/path/to/udacity out=data/udacity
"""

from __future__ import annotations

from omegaconf import DictConfig

from lnn_drive.commands.config import to_dataclass
from lnn_drive.commands.inspect import report_import
from lnn_drive.data.importers import UdacityImportConfig, import_udacity

CONFIG = "import_udacity"


def run(cfg: DictConfig) -> int:
    """Import; print the summary of the new dataset."""
    icfg = to_dataclass(UdacityImportConfig, cfg, ignore=("paths", "task_name"))
    report_import(import_udacity(icfg).to_dict())
    return 0
