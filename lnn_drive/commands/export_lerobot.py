"""`export-lerobot`: an lnn_drive dataset -> a LeRobot v3.0 dataset (docs/lerobot.md).

lnn-drive export-lerobot root=data/sample out=/tmp/sample_lerobot [codec=h264_lossless] [dtype=float64]
"""

from __future__ import annotations

from omegaconf import DictConfig

from lnn_drive.commands.config import to_dataclass
from lnn_drive.data.lerobot import LeRobotExportConfig, export_lerobot

CONFIG = "export_lerobot"


def run(cfg: DictConfig) -> int:
    """Export; print where it went and how the signals were split."""
    s = export_lerobot(to_dataclass(LeRobotExportConfig, cfg, ignore=("paths", "task_name")))
    print(f"wrote {s.frames} frames in {s.episodes} episode(s) to {s.out} (LeRobot v3.0)")
    for note in s.notes:
        print(f"note: {note}")
    return 0
