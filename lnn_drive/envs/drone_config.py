"""Configuration of the drone task ``lnn_drive/FlyToTarget-v0``: :class:`DroneConfig`.

Units: metres, seconds, radians unless a field name says ``_deg``. Flight commands are
body-frame velocities (m/s; x forward, y left, z up) and yaw rate (rad/s, positive turning
left), the convention of drone_causality's ``vx, vy, vz, omega_z``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from lnn_drive.envs.config import PRESETS, Appearance, appearance

#: The registered id of the drone task.
DRONE_ENV_ID = "lnn_drive/FlyToTarget-v0"

#: Names of the four action components, in order, with their units.
ACTION_SIGNALS: dict[str, str] = {
    "vx": "m/s",
    "vy": "m/s",
    "vz": "m/s",
    "yaw_rate": "rad/s",
}

#: Seasons (the car's appearance presets: colours, lighting, fog).
SEASONS: tuple[str, ...] = PRESETS

#: Fields that are (low, high) pairs.
_PAIRS = ("start_altitude", "target_distance")

#: How an episode can end (``info["outcome"]``; ``None`` while it runs).
OUTCOMES = ("success", "timeout", "collision", "target_lost")


@dataclass(frozen=True, kw_only=True)
class DroneConfig:
    """Settings of :class:`~lnn_drive.envs.fly_to_target.FlyToTargetEnv`, validated on
    construction (a bad value raises ``ValueError`` naming the field).

    Attributes:
        season: Appearance, one of :data:`SEASONS` (summer, autumn, winter, dusk, fog).
        fps: Rate (Hz) of control and of the camera.
        height, width: Camera image size (pixels); the paper's is 144 x 256, the
            CPU-friendly default 72 x 128 (same aspect ratio).
        fov_deg: Horizontal field of view (degrees).
        pitch_deg: Downward pitch of the gimballed camera (degrees); the gimbal keeps the
            camera level in roll and at this pitch whatever the drone does, so only
            position and yaw move the view.
        max_speed: Bound of the horizontal commands ``|vx|, |vy|`` (m/s).
        max_climb: Bound of ``|vz|`` (m/s).
        max_yaw_rate: Bound of the yaw-rate command (rad/s).
        time_constant: Time constant (s) of the first-order response of the executed
            velocities and yaw rate to the commands; 0 = instantaneous.
        command_noise_std: Standard deviation of Gaussian noise added to each executed
            command every step, as a fraction of that command's bound.
        gust_std: Stationary standard deviation (m/s) of the horizontal wind gusts (an
            Ornstein-Uhlenbeck process per axis, world frame); 0 = calm.
        gust_tau: Correlation time (s) of the gusts.
        start_altitude: Range (m) of the altitude at reset.
        min_altitude, max_altitude: Flight envelope; below ``min_altitude`` the drone has
            hit the ground (a collision); above ``max_altitude`` it is held there.
        target_distance: Range (m) of the horizontal start distance to the target.
        target_bearing_margin_deg: The target starts at least this far inside the edge of
            the horizontal field of view.
        success_radius: Success when the horizontal distance to the target is below this (m)
            while facing it.
        facing_deg: ... i.e. with ``|bearing| <`` this (degrees).
        lost_seconds: The episode ends as ``target_lost`` when the target has been outside
            the horizontal field of view for this long (s).
        max_episode_steps: Time limit (steps); reaching it ends the episode as ``timeout``.
        tree_density, bush_density: Trees and bushes per 100 m^2 outside clearings.
        clearings: Number of random clearings (treeless discs 5-12 m in radius) besides the
            ones around the start and the target.
        corridor: Half-width (m) of a treeless strip along the straight line from start to
            target, so that the target is not hidden behind a trunk at the start.
        arena: Half-size (m) of the square, centred on the start, that holds trees.
        drone_radius: Collision radius of the drone (m).
        fog_scale: Multiplier of the season's fog distance (fog comes closer below 1).
    """

    season: str = "summer"
    fps: float = 30.0
    height: int = 72
    width: int = 128
    fov_deg: float = 90.0
    pitch_deg: float = 8.0
    max_speed: float = 3.0
    max_climb: float = 1.0
    max_yaw_rate: float = 1.0
    time_constant: float = 0.25
    command_noise_std: float = 0.0
    gust_std: float = 0.0
    gust_tau: float = 2.0
    start_altitude: tuple[float, float] = (1.5, 2.5)
    min_altitude: float = 0.3
    max_altitude: float = 8.0
    target_distance: tuple[float, float] = (8.0, 25.0)
    target_bearing_margin_deg: float = 10.0
    success_radius: float = 2.0
    facing_deg: float = 20.0
    lost_seconds: float = 2.0
    max_episode_steps: int = 600
    tree_density: float = 1.2
    bush_density: float = 0.8
    clearings: int = 4
    corridor: float = 1.5
    arena: float = 45.0
    drone_radius: float = 0.25
    fog_scale: float = 1.0

    def __post_init__(self) -> None:
        if self.season not in SEASONS:
            raise ValueError(f"env.season must be one of {', '.join(SEASONS)}, got {self.season!r}")

        def check(name: str, ok: bool, want: str) -> None:
            if not ok:
                raise ValueError(f"env.{name} must be {want}, got {getattr(self, name)!r}")

        def num(v: Any, name: str) -> float:
            if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
                raise ValueError(f"env.{name} must be a finite number, got {v!r}")
            return float(v)

        def rng_pair(name: str, lo: float, hi: float) -> None:
            v = getattr(self, name)
            if not isinstance(v, tuple | list) or len(v) != 2:
                raise ValueError(f"env.{name} must be a pair [low, high], got {v!r}")
            a, b = (num(x, name) for x in v)
            check(name, lo <= a <= b <= hi, f"a pair low <= high within [{lo}, {hi}]")

        for name in ("height", "width", "max_episode_steps", "clearings"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise ValueError(f"env.{name} must be a non-negative integer, got {v!r}")
        for f in fields(self):
            if f.type == "float":
                num(getattr(self, f.name), f.name)
        check("height", 16 <= self.height <= 1080, "in [16, 1080] pixels")
        check("width", 16 <= self.width <= 1920, "in [16, 1920] pixels")
        check("max_episode_steps", self.max_episode_steps >= 1, ">= 1")
        check("fps", 1 <= self.fps <= 1000, "in [1, 1000] Hz")
        check("fov_deg", 20 <= self.fov_deg <= 140, "in [20, 140] degrees")
        check("pitch_deg", -10 <= self.pitch_deg <= 45, "in [-10, 45] degrees")
        check("max_speed", 0 < self.max_speed <= 20, "in (0, 20] m/s")
        check("max_climb", 0 < self.max_climb <= 10, "in (0, 10] m/s")
        check("max_yaw_rate", 0 < self.max_yaw_rate <= 6, "in (0, 6] rad/s")
        check("time_constant", 0 <= self.time_constant <= 5, "in [0, 5] s")
        check("command_noise_std", 0 <= self.command_noise_std <= 1, "in [0, 1]")
        check("gust_std", 0 <= self.gust_std <= 5, "in [0, 5] m/s")
        check("gust_tau", 0.05 <= self.gust_tau <= 60, "in [0.05, 60] s")
        check("min_altitude", 0 <= self.min_altitude <= 5, "in [0, 5] m")
        check(
            "max_altitude",
            self.min_altitude + 1 <= self.max_altitude <= 50,
            "in [min_altitude + 1, 50] m",
        )
        rng_pair("start_altitude", self.min_altitude + 0.2, self.max_altitude)
        rng_pair("target_distance", 3.0, 200.0)
        check(
            "target_bearing_margin_deg",
            0 <= self.target_bearing_margin_deg < self.fov_deg / 2,
            "in [0, fov_deg / 2) degrees",
        )
        check("success_radius", 0.5 <= self.success_radius <= 20, "in [0.5, 20] m")
        check(
            "success_radius",
            self.success_radius < self.target_distance[0],
            "below the smallest target_distance",
        )
        check("facing_deg", 1 <= self.facing_deg <= 180, "in [1, 180] degrees")
        check("lost_seconds", 0 < self.lost_seconds <= 60, "in (0, 60] s")
        check("tree_density", 0 <= self.tree_density <= 10, "in [0, 10] per 100 m^2")
        check("bush_density", 0 <= self.bush_density <= 10, "in [0, 10] per 100 m^2")
        check("clearings", self.clearings <= 50, "at most 50")
        check("corridor", 0 <= self.corridor <= 10, "in [0, 10] m")
        check(
            "arena",
            self.target_distance[1] + 5 <= self.arena <= 500,
            "in [max target_distance + 5, 500] m",
        )
        check("drone_radius", 0.05 <= self.drone_radius <= 2, "in [0.05, 2] m")
        check("fog_scale", 0.05 <= self.fog_scale <= 20, "in [0.05, 20]")

    @property
    def dt(self) -> float:
        return 1.0 / self.fps

    @property
    def appearance(self) -> Appearance:
        return appearance(self.season)

    @property
    def action_high(self) -> np.ndarray:
        """Bounds of the action (vx, vy, vz, yaw_rate), float32 (4,)."""
        return np.array(
            [self.max_speed, self.max_speed, self.max_climb, self.max_yaw_rate], np.float32
        )

    @classmethod
    def from_mapping(cls, cfg: Mapping[str, Any] | None = None, **overrides: Any) -> DroneConfig:
        """Build from a mapping (e.g. the ``env`` Hydra group) plus overrides; ``id`` and
        ``_target_`` are skipped, any other key that is not a field raises ``ValueError``."""
        known = {f.name for f in fields(cls)}
        merged = {**dict(cfg or {}), **overrides}
        merged.pop("id", None)
        merged.pop("_target_", None)
        if not merged.keys() <= known:
            raise ValueError(
                f"unknown env option(s) {sorted(merged.keys() - known)}; valid options: {sorted(known)}"
            )
        pairs = {k: tuple(v) for k, v in merged.items() if k in _PAIRS and isinstance(v, list)}
        return cls(**{**merged, **pairs})

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-friendly field values."""
        return {
            f.name: list(getattr(self, f.name)) if f.name in _PAIRS else getattr(self, f.name)
            for f in fields(self)
        }


__all__ = ["ACTION_SIGNALS", "DRONE_ENV_ID", "OUTCOMES", "SEASONS", "DroneConfig"]
