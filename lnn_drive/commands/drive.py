"""`drive`: drive a simulator yourself (keyboard / gamepad), recorded as a log; with
checkpoint=... the policy drives and any driving key takes over (docs/drive.md).

lnn-drive drive                                   # you drive lnn_drive/LaneKeeping-v0
lnn-drive drive checkpoint=path/to/best.pt saliency=true neurons=true
lnn-drive drive env_id=CarRacing-v3
"""

from __future__ import annotations

from omegaconf import DictConfig

from lnn_drive.commands.config import to_dataclass
from lnn_drive.teleop import DriveConfig, drive

CONFIG = "drive"


def run(cfg: DictConfig) -> int:
    """Drive; print what was recorded."""
    s = drive(to_dataclass(DriveConfig, cfg, ignore=("paths", "task_name")))
    print(
        f"recorded {s['frames']} frames in {s['episodes']} episode(s) to {s['out']}; "
        f"you drove {s['human_frames']} frames, {s['takeovers']} takeover(s)"
    )
    return 0
