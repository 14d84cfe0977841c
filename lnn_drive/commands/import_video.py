"""`import-video`: a video file + a CSV of timestamped controls -> a dataset (one episode).

lnn-drive import-video video=drive.mp4 controls=controls.csv out=data/drive
"""

from __future__ import annotations

from omegaconf import DictConfig

from lnn_drive.commands.config import to_dataclass
from lnn_drive.commands.inspect import report_import
from lnn_drive.data.importers import VideoImportConfig, import_video

CONFIG = "import_video"


def run(cfg: DictConfig) -> int:
    """Import; print the summary of the new dataset."""
    icfg = to_dataclass(VideoImportConfig, cfg, ignore=("paths", "task_name"))
    report_import(import_video(icfg).to_dict())
    return 0
