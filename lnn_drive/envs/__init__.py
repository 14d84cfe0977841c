"""Simulated driving environments, their renderer and privileged experts.

Importing this package registers ``lnn_drive/LaneKeeping-v0`` with gymnasium, and (through
``lnn_drive.envs.adapters``) the adapted external environments.
"""

from gymnasium.envs.registration import register, registry

from lnn_drive.envs import adapters  # noqa: F401  (registers the adapted environments)
from lnn_drive.envs.config import LABEL_CLASSES, MAX_CURVATURE, PRESETS, EnvConfig
from lnn_drive.envs.factory import ENV_ID, env_fn, make_env

if ENV_ID not in registry:
    register(
        id=ENV_ID,
        entry_point="lnn_drive.envs.lane_keeping:LaneKeepingEnv",
        max_episode_steps=1000,
    )

__all__ = [
    "ENV_ID",
    "LABEL_CLASSES",
    "MAX_CURVATURE",
    "PRESETS",
    "EnvConfig",
    "env_fn",
    "make_env",
]
