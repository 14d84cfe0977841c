"""Simulated driving environments, their renderer and privileged experts.

Importing ``lnn_drive`` registers ``lnn_drive/LaneKeeping-v0`` (the easy task) and
``lnn_drive/LaneKeepingHard-v0`` (the hard profile), the drone task
``lnn_drive/FlyToTarget-v0`` and the adapted external environments
(``lnn_drive/CarRacing-v3``, see ``lnn_drive.envs.adapters``) with gymnasium.
"""

from lnn_drive.envs.config import LABEL_CLASSES, MAX_CURVATURE, PRESETS, EnvConfig
from lnn_drive.envs.drone_config import DRONE_ENV_ID
from lnn_drive.envs.factory import ENV_ID, env_fn, make_env

__all__ = [
    "DRONE_ENV_ID",
    "ENV_ID",
    "LABEL_CLASSES",
    "MAX_CURVATURE",
    "PRESETS",
    "EnvConfig",
    "env_fn",
    "make_env",
]
