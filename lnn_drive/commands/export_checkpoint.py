"""`export-checkpoint`: a training checkpoint -> model.safetensors + config.json + README.md
(the layout of Hugging Face model repositories); `Policy.load` reads the folder back.

lnn-drive export-checkpoint checkpoint=outputs/train/runs/<ts>/checkpoints/best.pt out=/tmp/ncp_policy
"""

from __future__ import annotations

from omegaconf import DictConfig

from lnn_drive.commands.config import to_dataclass
from lnn_drive.train.hub import ExportCheckpointConfig, export_checkpoint

CONFIG = "export_checkpoint"


def run(cfg: DictConfig) -> int:
    """Export; print the folder and how to load it."""
    out = export_checkpoint(
        to_dataclass(ExportCheckpointConfig, cfg, ignore=("paths", "task_name"))
    )
    print(f"wrote {out}/model.safetensors, config.json, README.md")
    print(f"load with: Policy.load({str(out)!r})")
    return 0
