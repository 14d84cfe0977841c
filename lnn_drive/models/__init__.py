"""Perception encoders, controllers (NCP wirings as LTC/CfC, baselines) and ``Policy``."""

from lnn_drive.models.controllers import (
    CONTROLLERS,
    PAPER_WIRING,
    Controller,
    NCPController,
    build_controller,
    make_ncp_wiring,
)
from lnn_drive.models.encoders import ENCODERS, ConvHead, Encoder, PilotNet, build_encoder
from lnn_drive.models.policy import CheckpointMismatchError, Policy, read_checkpoint

__all__ = [
    "CONTROLLERS",
    "ENCODERS",
    "PAPER_WIRING",
    "CheckpointMismatchError",
    "Controller",
    "ConvHead",
    "Encoder",
    "NCPController",
    "PilotNet",
    "Policy",
    "build_controller",
    "build_encoder",
    "make_ncp_wiring",
    "read_checkpoint",
]
