"""Building environments from configuration (an :class:`EnvConfig` or a plain mapping)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

import gymnasium as gym

from lnn_drive.envs.config import EnvConfig

ENV_ID = "lnn_drive/LaneKeeping-v0"


def _plain(env_cfg: Mapping[str, Any] | EnvConfig | None) -> dict[str, Any]:
    if env_cfg is None:
        return {}
    if isinstance(env_cfg, EnvConfig):
        return {f: getattr(env_cfg, f) for f in env_cfg.__dataclass_fields__}
    return dict(env_cfg)


def make_env(
    env_cfg: Mapping[str, Any] | EnvConfig | None = None,
    *,
    render_mode: str | None = "rgb_array",
    **overrides: Any,
) -> gym.Env:
    """``gymnasium.make`` of :data:`ENV_ID` from a config mapping plus overrides.

    Args:
        env_cfg: The ``env`` config group (its ``id`` key, if any, is ignored), a mapping of
            :class:`EnvConfig` fields, or an :class:`EnvConfig`.
        render_mode: Passed to the environment.
        **overrides: Field values that replace those of ``env_cfg``.

    Returns:
        The wrapped environment (``TimeLimit`` at ``max_episode_steps``).

    Raises:
        ValueError: an unknown option or an invalid value, named.
    """
    config = EnvConfig.from_mapping(_plain(env_cfg), **overrides)
    return gym.make(
        ENV_ID,
        max_episode_steps=config.max_episode_steps,
        render_mode=render_mode,
        config=config,
    )


def env_fn(
    env_cfg: Mapping[str, Any] | EnvConfig | None = None, **overrides: Any
) -> Callable[[], gym.Env]:
    """A picklable zero-argument constructor (for ``gymnasium.vector.AsyncVectorEnv``).

    The configuration is validated now, so a bad value fails here rather than in a worker.
    """
    cfg = _plain(env_cfg)
    EnvConfig.from_mapping(cfg, **overrides)
    return functools.partial(make_env, cfg, **overrides)
