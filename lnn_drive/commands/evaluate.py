"""`evaluate`: closed-loop evaluation of a checkpoint on held-out roads.

lnn-drive evaluate checkpoint=outputs/train/runs/<ts>/checkpoints/best.pt
lnn-drive evaluate checkpoint=... eval=robustness     # noise + OOD presets
lnn-drive evaluate checkpoint=deploy/ncp_cfc.int8.onnx   # an exported model (OnnxPolicy)
"""

from __future__ import annotations

from os import PathLike
from pathlib import Path

from omegaconf import DictConfig

from lnn_drive.commands.config import env_config, eval_config
from lnn_drive.eval.evaluate import evaluate_policy
from lnn_drive.eval.html_report import write_eval_report
from lnn_drive.protocols import PolicyProtocol
from lnn_drive.train.checkpoint import load_policy

CONFIG = "evaluate"


def load_acting_policy(path: str | PathLike) -> PolicyProtocol:
    """A checkpoint as a :class:`~lnn_drive.models.Policy`, an exported ``.onnx`` model as
    a :class:`~lnn_drive.deploy.runtime.OnnxPolicy` (no torch in its forward)."""
    if str(path).endswith(".onnx"):
        from lnn_drive.deploy.runtime import OnnxPolicy

        return OnnxPolicy(Path(str(path)).expanduser())
    return load_policy(path)


def run(cfg: DictConfig) -> int:
    """Evaluate; print the metrics table and where the reports are."""
    ecfg = eval_config(cfg.eval)
    env = env_config(cfg.env)
    policy = load_acting_policy(cfg.checkpoint)
    res = evaluate_policy(policy, env, ecfg, out_dir=Path(cfg.out_dir), label=policy.model_name)
    res["files"]["report_html"] = str(
        write_eval_report(res, Path(cfg.out_dir), label=policy.model_name)
    )
    print(res["table"])
    for k, v in res["files"].items():
        print(f"{k}: {v}")
    return 0
