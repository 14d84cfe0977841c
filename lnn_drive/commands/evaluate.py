"""`evaluate`: closed-loop evaluation of a checkpoint on held-out roads.

lnn-drive evaluate checkpoint=outputs/train/runs/<ts>/checkpoints/best.pt
lnn-drive evaluate checkpoint=... eval=robustness     # noise + OOD presets
"""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from lnn_drive.commands.config import env_config, eval_config
from lnn_drive.eval.evaluate import evaluate_policy
from lnn_drive.eval.html_report import write_eval_report
from lnn_drive.train.checkpoint import load_policy

CONFIG = "evaluate"


def run(cfg: DictConfig) -> int:
    """Evaluate; print the metrics table and where the reports are."""
    ecfg = eval_config(cfg.eval)
    env = env_config(cfg.env)
    policy = load_policy(cfg.checkpoint)
    res = evaluate_policy(policy, env, ecfg, out_dir=Path(cfg.out_dir), label=policy.model_name)
    res["files"]["report_html"] = str(
        write_eval_report(res, Path(cfg.out_dir), label=policy.model_name)
    )
    print(res["table"])
    for k, v in res["files"].items():
        print(f"{k}: {v}")
    return 0
