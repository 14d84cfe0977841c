"""`export`: write a trained policy as ONNX (fp32, and static int8 calibrated on a driving log).

lnn-drive export checkpoint=outputs/train/runs/<ts>/checkpoints/best.pt
lnn-drive export checkpoint=... int8=false out_dir=deploy/
Run the result without PyTorch (lnn_drive.deploy.OnnxPolicy), or in closed loop:
lnn-drive evaluate checkpoint=<out_dir>/ncp_cfc.int8.onnx
"""

from __future__ import annotations

from omegaconf import DictConfig

from lnn_drive.commands.config import JOB_KEYS, plain, to_dataclass
from lnn_drive.deploy.export import ExportConfig, export, export_summary
from lnn_drive.train.checkpoint import load_policy, read_checkpoint

CONFIG = "export"


def export_config(cfg: DictConfig) -> ExportConfig:
    """The typed config of a composed ``conf/export.yaml`` (``checkpoint`` aside)."""
    d = {k: v for k, v in plain(cfg).items() if k not in (*JOB_KEYS, "checkpoint")}
    return to_dataclass(ExportConfig, d)


def run(cfg: DictConfig) -> int:
    """Export; print each file, its size and its measured parity with PyTorch."""
    ecfg = export_config(cfg)
    policy = load_policy(cfg.checkpoint)
    print(export_summary(export(ecfg, policy, checkpoint=read_checkpoint(cfg.checkpoint))))
    return 0
