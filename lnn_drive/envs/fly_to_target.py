"""``lnn_drive/FlyToTarget-v0``: fly a camera drone to a red chair it sees."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import gymnasium as gym
import numpy as np

from lnn_drive.envs.drone_config import DRONE_ENV_ID, DroneConfig
from lnn_drive.envs.drone_expert import DroneExpert
from lnn_drive.envs.drone_render import DroneRenderer
from lnn_drive.envs.drone_world import K_BUSH, O_H, O_KIND, O_RAD, O_X, O_Y, generate_world
from lnn_drive.envs.options import finite_option
from lnn_drive.envs.render import Camera

#: Reward of reaching the target and of a collision.
SUCCESS_REWARD = 10.0
COLLISION_REWARD = -10.0
#: Options ``reset`` accepts (``reset_mask`` is the vector environments' and ignored).
RESET_OPTIONS = ("target_distance", "target_bearing", "altitude", "reset_mask")


def reset_options(options: Mapping[str, Any] | None) -> dict[str, float]:
    """The numeric ``reset`` options, checked to be known and finite."""
    out: dict[str, float] = {}
    for name, value in dict(options or {}).items():
        if name not in RESET_OPTIONS:
            valid = ", ".join(RESET_OPTIONS[:-1])
            raise ValueError(f"unknown reset option {name!r}; valid: {valid}")
        if name == "reset_mask":
            continue
        out[name] = finite_option(name, value)
    return out


def wrap_angle(a: float) -> float:
    """Angle wrapped to [-pi, pi)."""
    return (a + math.pi) % (2 * math.pi) - math.pi


class FlyToTargetEnv(gym.Env):
    """Fly a quadrotor to a target seen through its forward camera.

    ## Description

    A camera drone starts in a clearing of a flat outdoor scene (meadow ground with
    drier patches, deciduous trees, conifers and bushes, treeless clearings, sky with a
    hill and treeline silhouette) and must fly to a red chair placed 8-25 m away at a
    random bearing inside the camera's view, ending close to it and facing it, as in the
    fly-to-target tasks of Chahine et al. (Science Robotics 2023). Each reset seed draws a
    new scene; the seasons ``summer``, ``autumn``, ``winter``, ``dusk`` and ``fog`` (the
    car's appearance presets: foliage colours, bare winter crowns, snow, low light, fog)
    serve as out-of-distribution conditions.

    ## Action Space

    ``Box(-high, high, (4,), float32)`` with ``high = (max_speed, max_speed, max_climb,
    max_yaw_rate)`` (3, 3, 1 m/s and 1 rad/s by default): body-frame velocity commands
    ``vx`` (forward), ``vy`` (left), ``vz`` (up) in m/s and the yaw rate ``omega_z``
    (rad/s, positive turning left). Out-of-bounds values are clipped; NaN, infinite or
    wrongly shaped actions raise ``ValueError``. The executed velocities follow the
    commands through a first-order response (time constant ``time_constant``, 0.25 s),
    plus Gaussian command noise (``command_noise_std``, a fraction of each bound) and
    horizontal wind gusts (Ornstein-Uhlenbeck, ``gust_std`` m/s, ``gust_tau`` s); both off
    by default. Control runs at ``fps`` (30 Hz).

    ## Observation Space

    ``Box(0, 255, (height, width, 3), uint8)`` (72 x 128 by default; the paper's 144 x 256
    is ``height=144, width=256``): the RGB image of a **gimballed** forward camera at the
    drone's position, stabilised level in roll and at a fixed downward pitch
    (``pitch_deg``), turning with the drone's yaw, horizontal field of view ``fov_deg``.

    ## Rewards

    Per step the decrease of the horizontal distance to the target (m); +10 on success,
    -10 on a collision.

    ## Starting State

    At the origin, ``start_altitude`` m up (uniform in [1.5, 2.5]), at a random yaw, at
    rest; the target at a distance uniform in ``target_distance`` and a bearing uniform
    within the field of view less ``target_bearing_margin_deg`` on each side. Options of
    ``reset``: ``target_distance`` (m), ``target_bearing`` (rad, + = left), ``altitude`` (m).

    ## Episode End

    Terminates with ``info["outcome"]``: ``"success"`` (horizontal distance to the target
    below ``success_radius`` = 2 m with ``|bearing| < facing_deg`` = 20 degrees, no
    collision), ``"collision"`` (the drone's ``drone_radius`` disc touches a tree's crown
    or trunk cylinder, or a bush below its top, or the altitude falls below
    ``min_altitude``), ``"target_lost"`` (target outside the horizontal field of view for
    ``lost_seconds`` = 2 s). Truncated with ``"timeout"`` after ``max_episode_steps``
    (600 steps = 20 s).

    ## Information

    ``reset`` and ``step`` return ``distance`` (horizontal distance to the target, m),
    ``bearing`` (target direction minus heading, rad, + = left), ``target_in_view``
    (inside the horizontal field of view), ``altitude`` (m), ``collision`` (bool),
    ``collided_with`` (``"tree"``, ``"bush"``, ``"ground"`` or ``None``), ``outcome``,
    ``x``, ``y``, ``yaw`` (world pose), ``velocity`` (executed body-frame vx, vy, vz,
    yaw rate), ``wind`` (world-frame gust, m/s), ``expert_action`` (the privileged
    expert's clean command, float32 (4,)), ``steps`` and ``obstacles`` (the scene's trees
    and bushes, float64 (M, 5): x, y, radius, height in m, kind; a fresh copy every
    step, for privileged safety filters, ``lnn_drive.models.drone_safety``).

    ## Arguments

    ``gymnasium.make("lnn_drive/FlyToTarget-v0", render_mode="rgb_array", config=None,
    **fields)``: ``config`` is a :class:`~lnn_drive.envs.drone_config.DroneConfig`;
    keyword arguments override its fields (``season="winter"``, ``gust_std=0.5``, ...).
    Invalid values raise ``ValueError`` naming the field.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 30}

    def __init__(
        self, render_mode: str | None = None, config: DroneConfig | None = None, **overrides: Any
    ) -> None:
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"render_mode must be one of {self.metadata['render_modes']} or None, got {render_mode!r}"
            )
        if config is None:
            config = DroneConfig.from_mapping(overrides)
        elif overrides:
            config = DroneConfig.from_mapping(config.to_dict(), **overrides)
        self.config = config
        self.render_mode = render_mode
        self.metadata = {**self.metadata, "render_fps": config.fps}
        self.dt = config.dt
        self.look = config.appearance
        self.camera = Camera(config.height, config.width, config.fov_deg, 1.0, config.pitch_deg)
        self.high = config.action_high
        self.action_space = gym.spaces.Box(-self.high, self.high, (4,), np.float32)
        self.observation_space = gym.spaces.Box(0, 255, (config.height, config.width, 3), np.uint8)
        self.half_fov = math.radians(config.fov_deg) / 2
        self.expert = DroneExpert(
            max_speed=config.max_speed,
            max_climb=config.max_climb,
            max_yaw_rate=config.max_yaw_rate,
            success_radius=config.success_radius,
            drone_radius=config.drone_radius,
            min_altitude=config.min_altitude,
        )
        self._alpha = (
            1.0 if config.time_constant == 0 else 1 - math.exp(-self.dt / config.time_constant)
        )
        self._gust_a = math.exp(-self.dt / config.gust_tau)
        self._obs: np.ndarray | None = None
        self.world = None

    # -------------------------------------------------------------------- gym API

    def reset(self, *, seed: int | None = None, options: Mapping[str, Any] | None = None):
        super().reset(seed=seed)
        cfg = self.config
        opts = reset_options(options)
        rng = self.np_random
        lim = self.half_fov - math.radians(cfg.target_bearing_margin_deg)
        # draw all three even when given, so that an option does not shift the scene's draws
        dist, bearing, alt = (
            opts.get(name, drawn)
            for name, drawn in (
                ("target_distance", rng.uniform(*cfg.target_distance)),
                ("target_bearing", rng.uniform(-lim, lim)),
                ("altitude", rng.uniform(*cfg.start_altitude)),
            )
        )
        if not cfg.success_radius < dist <= cfg.arena - 5:
            raise ValueError(
                f"reset option target_distance must be in ({cfg.success_radius}, {cfg.arena - 5}] m, got {dist}"
            )
        if abs(bearing) > self.half_fov:
            raise ValueError(
                f"reset option target_bearing must be within the field of view (|bearing| <= {self.half_fov:.3f} rad), got {bearing}"
            )
        if not cfg.min_altitude < alt <= cfg.max_altitude:
            raise ValueError(
                f"reset option altitude must be in ({cfg.min_altitude}, {cfg.max_altitude}] m, got {alt}"
            )
        self.yaw = float(rng.uniform(-math.pi, math.pi))
        heading = self.yaw + bearing
        target = (dist * math.cos(heading), dist * math.sin(heading))
        self.world = generate_world(
            rng,
            self.look,
            cfg.season,
            target=target,
            arena=cfg.arena,
            tree_density=cfg.tree_density,
            bush_density=cfg.bush_density,
            clearings=cfg.clearings,
            corridor=cfg.corridor,
        )
        obs_tab = self.world.objects[1:]
        self._obstacles = np.ascontiguousarray(obs_tab[:, [O_X, O_Y, O_RAD, O_H, O_KIND]])
        self.renderer = DroneRenderer(
            self.camera,
            self.world,
            self.look,
            rng,
            fog_distance=self.look.fog_distance * cfg.fog_scale,
        )
        self.x = self.y = 0.0
        self.z = float(alt)
        self.vel = np.zeros(4)  # executed body-frame vx, vy, vz, yaw rate
        self.wind = np.zeros(2)
        self.steps = 0
        self._lost_steps = 0
        self._collided: str | None = None
        self._outcome: str | None = None
        self._geometry()
        self._obs = self.renderer.render(self.x, self.y, self.z, self.yaw)
        return self._obs, self._info()

    def step(self, action):
        if self.world is None:
            raise RuntimeError("call reset() before step()")
        if self._outcome is not None:
            raise RuntimeError("the episode has ended; call reset()")
        cmd = self._action(action)
        cfg = self.config
        rng = self.np_random
        self.vel += self._alpha * (cmd - self.vel)
        executed = self.vel
        if cfg.command_noise_std > 0:
            executed = executed + cfg.command_noise_std * self.high * rng.standard_normal(4)
        if cfg.gust_std > 0:
            a = self._gust_a
            self.wind = a * self.wind + cfg.gust_std * math.sqrt(1 - a * a) * rng.standard_normal(2)
        dt = self.dt
        # body-frame velocity rotated to the world at the mid-step heading
        mid = self.yaw + 0.5 * executed[3] * dt
        c, s = math.cos(mid), math.sin(mid)
        self.x += (c * executed[0] - s * executed[1] + self.wind[0]) * dt
        self.y += (s * executed[0] + c * executed[1] + self.wind[1]) * dt
        self.z = min(self.z + executed[2] * dt, cfg.max_altitude)
        self.yaw = wrap_angle(self.yaw + executed[3] * dt)
        self.steps += 1
        prev = self.distance
        self._geometry()
        reward = prev - self.distance
        self._collided = self._collision()
        self._lost_steps = 0 if self.target_in_view else self._lost_steps + 1
        terminated = True
        if self._collided is not None:
            self._outcome = "collision"
            reward += COLLISION_REWARD
        elif self.distance < cfg.success_radius and abs(self.bearing) < math.radians(
            cfg.facing_deg
        ):
            self._outcome = "success"
            reward += SUCCESS_REWARD
        elif self._lost_steps * dt >= cfg.lost_seconds:
            self._outcome = "target_lost"
        else:
            terminated = False
        truncated = not terminated and self.steps >= cfg.max_episode_steps
        if truncated:
            self._outcome = "timeout"
        self._obs = self.renderer.render(self.x, self.y, self.z, self.yaw)
        return self._obs, float(reward), terminated, truncated, self._info()

    def render(self) -> np.ndarray | None:
        """A copy of the current camera frame with ``render_mode="rgb_array"``, else None."""
        if self._obs is None and self.render_mode == "rgb_array":
            raise RuntimeError("render() needs a frame: call reset() first")
        return None if self.render_mode != "rgb_array" else np.array(self._obs)

    # -------------------------------------------------------------------- internals

    def _action(self, action: Any) -> np.ndarray:
        try:
            arr = np.asarray(action, dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(
                f"action must be 4 numbers (vx, vy, vz m/s, yaw rate rad/s), got {action!r}"
            ) from None
        if arr.shape != (4,):
            raise ValueError(
                f"action must have shape (4,) (vx, vy, vz m/s, yaw rate rad/s), got shape {arr.shape}"
            )
        if not np.isfinite(arr).all():
            raise ValueError(f"action must be finite, got {arr.tolist()} (vx, vy, vz, yaw rate)")
        return np.clip(arr, -self.high, self.high)

    def _geometry(self) -> None:
        tx, ty = self.world.target
        dx, dy = tx - self.x, ty - self.y
        self.distance = math.hypot(dx, dy)
        self.bearing = wrap_angle(math.atan2(dy, dx) - self.yaw)
        self.target_in_view = abs(self.bearing) < self.half_fov

    def _collision(self) -> str | None:
        if self.z < self.config.min_altitude:
            return "ground"
        ob = self._obstacles
        d = np.hypot(ob[:, 0] - self.x, ob[:, 1] - self.y) - ob[:, 2] - self.config.drone_radius
        hit = (d < 0) & (ob[:, 3] > self.z)
        if not hit.any():
            return None
        return "bush" if ob[np.flatnonzero(hit)[0], 4] == K_BUSH else "tree"

    def _info(self) -> dict[str, Any]:
        expert = self.expert.action(
            x=self.x,
            y=self.y,
            z=self.z,
            yaw=self.yaw,
            target=self.world.target,
            obstacles=self._obstacles,
            wind=self.wind,
        )
        return {
            "distance": self.distance,
            "bearing": self.bearing,
            "target_in_view": bool(self.target_in_view),
            "altitude": self.z,
            "collision": self._collided is not None,
            "collided_with": self._collided,
            "outcome": self._outcome,
            "x": self.x,
            "y": self.y,
            "yaw": self.yaw,
            "velocity": self.vel.copy(),
            "wind": self.wind.copy(),
            "expert_action": expert,
            "steps": self.steps,
            "obstacles": self._obstacles.copy(),
        }


def make_drone_env(
    config: Mapping[str, Any] | DroneConfig | None = None,
    *,
    render_mode: str | None = "rgb_array",
    **overrides: Any,
) -> gym.Env:
    """``gymnasium.make("lnn_drive/FlyToTarget-v0")`` from a mapping of
    :class:`DroneConfig` fields (or a config) plus overrides, with the time limit at
    ``max_episode_steps``.

    Raises:
        ValueError: an unknown option or an invalid value, named.
    """
    base = config.to_dict() if isinstance(config, DroneConfig) else dict(config or {})
    cfg = DroneConfig.from_mapping(base, **overrides)
    return gym.make(
        DRONE_ENV_ID,
        max_episode_steps=cfg.max_episode_steps,
        render_mode=render_mode,
        config=cfg,
    )
