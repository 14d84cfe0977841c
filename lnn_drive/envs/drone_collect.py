"""Record the drone's privileged expert into the driving-log format.

Every frame is labelled with the expert's clean command (``vx, vy, vz`` in m/s, body
frame, and ``yaw_rate`` in rad/s: the targets a 4-output policy learns); with DART noise
(``dart_std`` > 0) the executed command (``cmd_*``) is the label plus Gaussian noise of
``dart_std`` times each bound, so the log holds drifts and the corrections back. The
distance and bearing to the target and the altitude are recorded too, for analysis.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lnn_drive.data.log import LogWriter
from lnn_drive.envs.drone_config import ACTION_SIGNALS, DRONE_ENV_ID, SEASONS, DroneConfig
from lnn_drive.envs.drone_expert import dart_action
from lnn_drive.envs.fly_to_target import make_drone_env
from lnn_drive.envs.record import Decision, Episode, record_episodes

#: What the drone observes besides the camera: recorded signal -> ``info`` key.
DRONE_OBSERVED: dict[str, str] = {
    "distance": "distance",
    "bearing": "bearing",
    "altitude": "altitude",
}
#: The signals a drone log holds, with their units: labels, executed commands, observations.
DRONE_SIGNALS: dict[str, str] = {
    **ACTION_SIGNALS,
    **{f"cmd_{k}": u for k, u in ACTION_SIGNALS.items()},
    "distance": "m",
    "bearing": "rad",
    "altitude": "m",
}


@dataclass(frozen=True, kw_only=True)
class DroneCollectConfig:
    """What :func:`collect_drone` writes.

    Attributes:
        out: The dataset folder to create (an existing one only with ``overwrite``).
        episodes: How many flights, each in the scene of seed ``seed + episode index``.
        seasons: Seasons taking turns, one per episode; empty: the env's season.
        seed: Scene seed of the first episode, also seeding the DART noise.
        dart_std: DART noise on the executed command, a fraction of each bound (in [0, 0.5]).
        steps: Frame limit per episode; ``None`` = until the episode ends (success,
            failure or the env's time limit).
        encoding: Frame container (``ffv1`` lossless or ``mp4v``).
        overwrite: Replace an existing dataset at ``out``.
    """

    out: str
    episodes: int = 10
    seasons: tuple[str, ...] = ()
    seed: int = 0
    dart_std: float = 0.05
    steps: int | None = None
    encoding: str = "ffv1"
    overwrite: bool = False

    def __post_init__(self) -> None:
        if not str(self.out) or str(self.out) == "???":
            raise ValueError(
                "collect_drone: out (the dataset folder) is required, e.g. out=data/drone"
            )
        if (
            isinstance(self.episodes, bool)
            or not isinstance(self.episodes, int)
            or self.episodes < 1
        ):
            raise ValueError(
                f"collect_drone: episodes must be an integer >= 1, got {self.episodes!r}"
            )
        if self.steps is not None and (not isinstance(self.steps, int) or self.steps < 1):
            raise ValueError(
                f"collect_drone: steps must be null or an integer >= 1, got {self.steps!r}"
            )
        if not (isinstance(self.dart_std, int | float) and math.isfinite(self.dart_std)):
            raise ValueError(f"collect_drone: dart_std must be a number, got {self.dart_std!r}")
        if not 0 <= self.dart_std <= 0.5:
            raise ValueError(f"collect_drone: dart_std must be in [0, 0.5], got {self.dart_std}")
        for s in self.seasons:
            if s not in SEASONS:
                raise ValueError(
                    f"collect_drone: unknown season {s!r} in seasons; valid: {', '.join(SEASONS)}"
                )


@dataclass
class DroneExpertRule:
    """The drone's privileged expert (``info["expert_action"]``) with DART noise on the
    executed command: a :class:`~lnn_drive.envs.record.Rule` for
    :func:`~lnn_drive.envs.record.record_episodes`.

    Labels: ``vx, vy, vz, yaw_rate`` (the clean command) and ``cmd_*`` (what was executed).

    Args:
        dart_std: DART noise, a fraction of each bound (0: clean).
        high: The action bounds (4,).
        rng: Generator of the noise.
    """

    dart_std: float
    high: np.ndarray
    rng: np.random.Generator

    def reset(self, episode: Episode) -> None:
        return None

    def decide(self, obs: np.ndarray, info: Mapping[str, Any]) -> Decision:
        label = np.asarray(info["expert_action"], np.float32)
        cmd = dart_action(label, self.dart_std, self.high, self.rng)
        labels = {k: float(v) for k, v in zip(ACTION_SIGNALS, label, strict=True)}
        labels |= {f"cmd_{k}": float(v) for k, v in zip(ACTION_SIGNALS, cmd, strict=True)}
        return Decision(action=cmd, labels=labels, expert=True)


def outcome_counter(outcomes: dict[str, int]) -> Callable[[Mapping[str, Any]], None]:
    """An ``after_step`` callback counting how episodes end into ``outcomes``."""

    def count(info: Mapping[str, Any]) -> None:
        if info.get("outcome") is not None:
            outcomes[info["outcome"]] = outcomes.get(info["outcome"], 0) + 1

    return count


def collect_drone(
    ccfg: DroneCollectConfig, env: DroneConfig | Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Fly the expert through :func:`~lnn_drive.envs.record.record_episodes` and write a
    dataset through :class:`~lnn_drive.data.log.LogWriter`.

    Args:
        ccfg: What to collect.
        env: The environment's settings (a :class:`DroneConfig` or its fields).

    Returns:
        ``{"out", "episodes", "frames", "outcomes" (outcome -> count; ``cut`` for
        episodes stopped by ``steps``), "seconds"}``.
    """
    base = env if isinstance(env, DroneConfig) else DroneConfig.from_mapping(env)
    seasons = ccfg.seasons or (base.season,)
    rule = DroneExpertRule(
        dart_std=ccfg.dart_std,
        high=base.action_high,
        rng=np.random.default_rng([ccfg.seed, 0xDA27]),
    )
    envs: dict[str, Any] = {}
    outcomes: dict[str, int] = {}
    t0 = time.perf_counter()

    def env_for(episode: Episode) -> Any:
        season = episode.meta["season"]
        if season not in envs:
            envs[season] = make_drone_env(base, season=season, render_mode=None)
        return envs[season]

    episodes = [
        Episode(
            seed=ccfg.seed + e,
            steps=ccfg.steps,
            meta={
                "seed": ccfg.seed + e,
                "season": seasons[e % len(seasons)],
                "group": f"scene{ccfg.seed + e}",
            },
        )
        for e in range(ccfg.episodes)
    ]
    extra = {
        "env": base.to_dict(),
        "dart_std": ccfg.dart_std,
        "seasons": list(seasons),
        "expert": "privileged (drone_expert.DroneExpert)",
        "action": "body-frame vx, vy, vz (m/s; x forward, y left, z up) and yaw_rate (rad/s, + = left)",
        "labels": list(ACTION_SIGNALS),
    }
    camera = {"height": base.height, "width": base.width, "fps": base.fps}
    try:
        with LogWriter(
            ccfg.out,
            signals=DRONE_SIGNALS,
            source=f"simulator:{DRONE_ENV_ID}",
            extra=extra,
            encoding=ccfg.encoding,
            overwrite=ccfg.overwrite,
            **camera,
        ) as log:
            stats = record_episodes(
                env_for,
                log,
                rule,
                episodes=episodes,
                observed=DRONE_OBSERVED,
                after_step=outcome_counter(outcomes),
            )
    finally:
        for sim in envs.values():
            sim.close()
    cut = stats.episodes - sum(outcomes.values())
    if cut:
        outcomes["cut"] = cut
    return {
        "out": str(Path(ccfg.out).absolute()),
        "episodes": stats.episodes,
        "frames": stats.frames,
        "outcomes": outcomes,
        "seconds": time.perf_counter() - t0,
    }


__all__ = [
    "DRONE_OBSERVED",
    "DRONE_SIGNALS",
    "DroneCollectConfig",
    "DroneExpertRule",
    "collect_drone",
    "outcome_counter",
]
