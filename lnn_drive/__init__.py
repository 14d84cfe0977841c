"""lnn_drive: liquid neural network (NCP) controllers that drive from a camera."""

from pathlib import Path

__version__ = "0.1.0"

#: The repository root (where ``conf/`` and ``data/`` live for a source checkout).
PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _register_envs() -> None:
    """Register the environments with gymnasium by entry-point string, so that importing
    ``lnn_drive`` imports nothing heavy (numba, the renderer) until ``gymnasium.make``."""
    from gymnasium.envs.registration import register, registry

    for env_id, kwargs in (
        ("lnn_drive/LaneKeeping-v0", {}),
        ("lnn_drive/LaneKeepingHard-v0", {"profile": "hard"}),
    ):
        if env_id not in registry:
            register(
                id=env_id,
                entry_point="lnn_drive.envs.lane_keeping:LaneKeepingEnv",
                max_episode_steps=1000,
                kwargs=kwargs,
            )
    if "lnn_drive/FlyToTarget-v0" not in registry:  # the drone task (docs/drone.md)
        register(
            id="lnn_drive/FlyToTarget-v0",
            entry_point="lnn_drive.envs.fly_to_target:FlyToTargetEnv",
            max_episode_steps=600,
        )
    # Adapted external environments (lnn_drive/envs/adapters/): no max_episode_steps here,
    # the factory asks gymnasium for the wrapped env's own TimeLimit.
    if "lnn_drive/CarRacing-v3" not in registry:
        register(
            id="lnn_drive/CarRacing-v3",
            entry_point="lnn_drive.envs.adapters.carracing:make_carracing",
            disable_env_checker=True,
        )


_register_envs()
