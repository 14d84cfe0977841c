"""Behaviour cloning, checkpoints, logging and distributed set-up."""

import os

# Idle OpenMP workers must sleep, not spin: on a shared 2-core machine a spinning worker
# steals the core from the main thread and tiny recurrent-cell ops take milliseconds
# (measured: NCP-CfC forward+backward 1,094 ms spinning vs 44 ms passive). Effective only
# when set before torch is first imported.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from lnn_drive.train.bc import NonFiniteLossError, TrainConfig, train, weighted_mse
from lnn_drive.train.checkpoint import (
    CheckpointMismatchError,
    TrainState,
    load_checkpoint,
    save_checkpoint,
)

__all__ = [
    "CheckpointMismatchError",
    "NonFiniteLossError",
    "TrainConfig",
    "TrainState",
    "load_checkpoint",
    "save_checkpoint",
    "train",
    "weighted_mse",
]
