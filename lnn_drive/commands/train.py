"""`train`: behaviour cloning of a policy on driving logs.

lnn-drive train [model=ncp_ltc] [train.max_minutes=7] [data.roots=[...]] [+experiment=demo]
torchrun --standalone --nproc_per_node 2 scripts/train.py hydra.run.dir=outputs/ddp ...
"""

from __future__ import annotations

from omegaconf import DictConfig

from lnn_drive.commands.config import print_error, run_dir, train_configs
from lnn_drive.train.bc import NonFiniteLossError, train, train_summary

CONFIG = "train"

#: Exit status of a run stopped by a NaN/inf loss (not the user's input: 3, not 2).
NONFINITE_EXIT = 3


def run(cfg: DictConfig) -> int:
    """Train; print where the best checkpoint is."""
    tc, data, model = train_configs(cfg)
    try:
        result = train(tc, data=data, model=model, run_dir=run_dir(cfg))
    except NonFiniteLossError as e:
        print_error(e)
        return NONFINITE_EXIT
    print(train_summary(result))
    return 0


def sweep_value(cfg: DictConfig) -> float:
    """One job of a Hydra sweep (``-m``): train and return the best validation loss, the
    objective ``hydra/sweeper=optuna_tpe`` minimises (docs/sweeps.md)."""
    tc, data, model = train_configs(cfg)
    result = train(tc, data=data, model=model, run_dir=run_dir(cfg))
    print(train_summary(result))
    return float(result["val_loss"])
