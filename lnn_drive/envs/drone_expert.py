"""The drone's privileged expert and DART noise for recovery data.

The expert knows the drone's true pose and executed velocity, the wind, the target's
position and every obstacle. It steers the horizontal velocity towards the target (speed
falling off with distance so that it arrives slowly), adds a repulsion from crowns and
trunks within ``avoid_margin`` of the drone's disc, cancels the known wind, holds
``cruise_altitude``, and yaws to face the target (which keeps it in the camera's view).
Commands are body-frame ``vx, vy, vz`` (m/s) and yaw rate (rad/s), like the policy's.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True, kw_only=True)
class DroneExpert:
    """Expert controller of :class:`~lnn_drive.envs.fly_to_target.FlyToTargetEnv`.

    Attributes:
        max_speed, max_climb, max_yaw_rate: Action bounds (m/s, m/s, rad/s).
        success_radius: The env's success radius (m); the expert aims inside it.
        drone_radius: The drone's collision radius (m).
        min_altitude: The env's ground-collision altitude (m).
        cruise_speed: Horizontal speed far from the target (m/s).
        approach_gain: Speed (m/s) per metre of distance beyond the stopping point.
        cruise_altitude: Altitude held (m); above the bushes, below the crowns' tops.
        climb_gain: Climb rate (m/s) per metre of altitude error.
        yaw_gain: Yaw rate (rad/s) per radian of bearing.
        avoid_margin: Clearance (m) below which an obstacle pushes the drone away.
        avoid_gain: Push (m/s) at zero clearance.
    """

    max_speed: float = 3.0
    max_climb: float = 1.0
    max_yaw_rate: float = 1.0
    success_radius: float = 2.0
    drone_radius: float = 0.25
    min_altitude: float = 0.3
    cruise_speed: float = 2.5
    approach_gain: float = 0.8
    cruise_altitude: float = 1.8
    climb_gain: float = 1.0
    yaw_gain: float = 2.5
    avoid_margin: float = 1.2
    avoid_gain: float = 2.0

    def __post_init__(self) -> None:
        for name in ("max_speed", "max_climb", "max_yaw_rate", "cruise_speed", "yaw_gain"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v > 0):
                raise ValueError(f"expert.{name} must be a positive number, got {v!r}")

    def action(
        self,
        *,
        x: float,
        y: float,
        z: float,
        yaw: float,
        target: tuple[float, float],
        obstacles: np.ndarray,
        wind: np.ndarray,
    ) -> np.ndarray:
        """Clean command float32 (4,): vx, vy, vz (m/s, body frame), yaw rate (rad/s).

        Args:
            x, y, z, yaw: Drone pose (m, rad).
            target: Target position (m).
            obstacles: (M, 5) x, y, collision radius, height, kind of each obstacle.
            wind: World-frame horizontal wind (2,) m/s.
        """
        dx, dy = target[0] - x, target[1] - y
        dist = math.hypot(dx, dy)
        bearing = (math.atan2(dy, dx) - yaw + math.pi) % (2 * math.pi) - math.pi
        stop = 0.5 * self.success_radius
        speed = min(self.cruise_speed, self.approach_gain * max(dist - stop, 0.0) + 0.3)
        # slow down while the heading is still swinging onto the target
        speed *= max(math.cos(bearing), 0.0) ** 2
        wx, wy = speed * dx / max(dist, 1e-6), speed * dy / max(dist, 1e-6)
        if len(obstacles):
            ox = x - obstacles[:, 0]
            oy = y - obstacles[:, 1]
            d = np.hypot(ox, oy)
            clear = d - obstacles[:, 2] - self.drone_radius
            near = (clear < self.avoid_margin) & (obstacles[:, 3] > z - 0.3)
            if near.any():
                push = self.avoid_gain * (1.0 - np.maximum(clear[near], 0.0) / self.avoid_margin)
                wx += float(np.sum(push * ox[near] / np.maximum(d[near], 1e-6)))
                wy += float(np.sum(push * oy[near] / np.maximum(d[near], 1e-6)))
        wx -= float(wind[0])
        wy -= float(wind[1])
        c, s = math.cos(yaw), math.sin(yaw)
        vx = c * wx + s * wy
        vy = -s * wx + c * wy
        vz = self.climb_gain * (max(self.cruise_altitude, self.min_altitude + 0.5) - z)
        r = self.yaw_gain * bearing
        out = np.array([vx, vy, vz, r])
        high = np.array([self.max_speed, self.max_speed, self.max_climb, self.max_yaw_rate])
        return np.clip(out, -high, high).astype(np.float32)


def dart_action(
    expert_action: np.ndarray, std: float, high: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """DART (Laskey et al. 2017): the expert's command plus Gaussian noise of ``std`` times
    each component's bound, clipped to the bounds; float32 (4,)."""
    a = np.asarray(expert_action, np.float64)
    if std > 0:
        a = a + std * np.asarray(high, np.float64) * rng.standard_normal(a.shape)
    return np.clip(a, -high, high).astype(np.float32)


def fly_expert(
    config: Mapping[str, Any] | None = None,
    *,
    episodes: int = 200,
    first_seed: int = 1_000_000,
    dart_std: float = 0.0,
    seed: int = 0,
) -> dict[str, Any]:
    """Fly the expert over ``episodes`` fresh scenes (seeds ``first_seed``, ``first_seed +
    1``, ...) and count how they end.

    Args:
        config: :class:`~lnn_drive.envs.drone_config.DroneConfig` fields (season, gusts...).
        episodes: Number of episodes.
        first_seed: Reset seed of the first episode.
        dart_std: DART noise on the executed command (fraction of each bound); the
            expert's clean command is still what it would label.
        seed: Seed of the DART noise generator.

    Returns:
        ``{"episodes", "success", "timeout", "collision", "target_lost", "success_rate",
        "mean_time_s", "seeds"}`` (``mean_time_s`` over successful episodes).
    """
    from lnn_drive.envs.drone_collect import DroneExpertRule, outcome_counter
    from lnn_drive.envs.drone_config import OUTCOMES
    from lnn_drive.envs.fly_to_target import make_drone_env
    from lnn_drive.envs.record import Episode, record_episodes

    if episodes < 1:
        raise ValueError(f"episodes must be >= 1, got {episodes}")
    env = make_drone_env(config, render_mode=None)
    counts = dict.fromkeys(OUTCOMES, 0)
    times: list[float] = []

    def after(info: Mapping[str, Any]) -> None:
        if info["outcome"] == "success":
            times.append(info["steps"] / env.unwrapped.config.fps)

    count = outcome_counter(counts)
    rule = DroneExpertRule(
        dart_std=dart_std, high=env.unwrapped.high, rng=np.random.default_rng([seed, 0xDA27])
    )
    try:
        record_episodes(
            env,
            None,
            rule,
            episodes=[Episode(seed=first_seed + e) for e in range(episodes)],
            after_step=lambda info: (count(info), after(info)),
        )
    finally:
        env.close()
    return {
        "episodes": episodes,
        **counts,
        "success_rate": counts["success"] / episodes,
        "mean_time_s": float(np.mean(times)) if times else math.nan,
        "seeds": (first_seed, first_seed + episodes - 1),
    }


__all__ = ["DroneExpert", "dart_action", "fly_expert"]
