"""Simulated driving environments, their renderer and privileged experts.

Importing this package registers ``lnn_drive/LaneKeeping-v0`` and
``lnn_drive/FlyToTarget-v0`` with gymnasium.
"""

from gymnasium.envs.registration import register, registry

from lnn_drive.envs.config import LABEL_CLASSES, MAX_CURVATURE, PRESETS, EnvConfig
from lnn_drive.envs.drone_config import DRONE_ENV_ID
from lnn_drive.envs.factory import ENV_ID, env_fn, make_env

if ENV_ID not in registry:
    register(
        id=ENV_ID,
        entry_point="lnn_drive.envs.lane_keeping:LaneKeepingEnv",
        max_episode_steps=1000,
    )
if DRONE_ENV_ID not in registry:
    register(
        id=DRONE_ENV_ID,
        entry_point="lnn_drive.envs.fly_to_target:FlyToTargetEnv",
        max_episode_steps=600,
    )

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
