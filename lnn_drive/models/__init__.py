"""Perception encoders, controllers (NCP wirings as LTC/CfC, baselines) and ``Policy``."""

import os

# Idle OpenMP workers must sleep, not spin: on a shared 2-core machine a spinning worker
# steals the core from the main thread and tiny recurrent-cell ops take milliseconds
# (measured: NCP-CfC forward+backward 1,094 ms spinning vs 44 ms passive). Effective only
# when set before torch is first imported.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from lnn_drive.models.config import ModelConfig
from lnn_drive.models.controllers import (
    CONTROLLERS,
    PAPER_WIRING,
    Controller,
    NCPController,
    build_controller,
    make_ncp_wiring,
)
from lnn_drive.models.encoders import ENCODERS, ConvHead, Encoder, PilotNet, build_encoder
from lnn_drive.models.policy import CheckpointMismatchError, Policy

__all__ = [
    "CONTROLLERS",
    "ENCODERS",
    "PAPER_WIRING",
    "CheckpointMismatchError",
    "Controller",
    "ConvHead",
    "Encoder",
    "ModelConfig",
    "NCPController",
    "PilotNet",
    "Policy",
    "build_controller",
    "build_encoder",
    "make_ncp_wiring",
]
