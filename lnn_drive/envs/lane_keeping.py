"""``lnn_drive/LaneKeeping-v0``: keep a car in its lane from a front camera."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import gymnasium as gym
import numpy as np

from lnn_drive.envs.config import MAX_CURVATURE, EnvConfig
from lnn_drive.envs.expert import LaneExpert
from lnn_drive.envs.ground import RES0, TILES, GroundTexture, texture_layout
from lnn_drive.envs.render import Camera, Renderer, camera_tables, view_extents
from lnn_drive.envs.road import DS, generate_road, project
from lnn_drive.envs.scenery import generate_objects, shadow_polygons

#: Reward of the step on which the car leaves its lane.
CRASH_REWARD = -10.0
#: Options ``reset`` accepts (``reset_mask`` is the vector environments' and ignored).
RESET_OPTIONS = ("lateral_offset", "heading_error", "start_s", "reset_mask")


def _wrap(a: float) -> float:
    return (a + math.pi) % (2 * math.pi) - math.pi


class LaneKeepingEnv(gym.Env):
    """Lane keeping on a two-lane country road seen through a front camera.

    ## Description

    A car drives at constant speed along a procedurally generated road (straights, gentle
    and sharp bends, S-curves; curvature bounded by ``max_road_curvature``) with lane
    markings, shoulders, grass and roadside trees, conifers, bushes, poles and buildings
    that cast shadows. The agent steers; the task is to stay in the right lane. Each reset
    seed generates a different road and object layout; appearance presets (``summer``,
    ``autumn``, ``winter``, ``dusk``, ``fog``) change colours, lighting and fog, for
    out-of-distribution tests.

    ## Action Space

    ``Box(-0.1, 0.1, (1,), float32)``: path curvature in 1/m (positive turns left; 0.1 is a
    10 m radius). Out-of-bounds values are clipped to the bound; NaN or infinite values,
    or a wrong shape, raise ``ValueError``. The car follows a kinematic bicycle model at
    constant ``speed``: heading rate = speed x executed curvature, where the executed
    curvature lags the command by a first-order lag of time constant ``actuation_lag``
    and gets Gaussian noise of ``steer_noise_std`` (both 0 by default).

    ## Observation Space

    ``Box(0, 255, (height, width, 3), uint8)``: the RGB image of a pinhole camera
    ``cam_height`` m above the road, pitched down ``pitch_deg``, with horizontal field of
    view ``fov_deg`` (default 78 x 200). :meth:`render_labels` gives the matching
    semantic label image (:data:`~lnn_drive.envs.config.LABEL_CLASSES`).

    ## Rewards

    Per step: progress along the road in units of ``speed x dt`` (about 1) minus
    ``(lateral_offset / crash_threshold)^2``; the step that leaves the lane gets -10.

    ## Starting State

    On the lane centre, aligned with the road, ``start_s`` metres along it (10 m, on the
    straight every road begins with), unless ``reset`` options say otherwise:
    ``lateral_offset`` (m), ``heading_error`` (rad), ``start_s`` (m).

    ## Episode End

    The car has left its lane when ``|lateral_offset| > lane_width / 2 + crash_margin``
    (1.75 + 0.25 = 2.0 m by default: the car's centre 25 cm beyond its lane's marking).
    With ``crash_mode="terminate"`` the episode then terminates (``terminated=True``).
    With ``crash_mode="intervene"`` (NVIDIA PilotNet's protocol) the departure is counted
    in ``info["interventions"]``, the car is put back on the lane centre aligned with the
    road at the same arc length, ``info["intervened"]`` is True for that step, and the
    episode continues. Episodes are truncated by the time limit (``max_episode_steps``,
    1000 steps = 33 s = 333 m by default) or at the end of the generated road.

    ## Information

    Every ``reset`` and ``step`` returns ``info`` with ``lateral_offset`` (m, + = left of
    the lane centre), ``heading_error`` (rad, car heading minus road heading),
    ``distance`` (m travelled this episode), ``road_curvature`` (centreline curvature at
    the car, 1/m), ``road_curvature_ahead`` (centreline curvature ``speed`` x 1 s ahead, 1/m),
    ``on_road`` (bool, within the crash threshold), ``interventions`` (count so far),
    ``intervened`` (bool, this step), ``expert_action`` (the privileged expert's clean
    curvature for the current state, 1/m), ``x``, ``y`` (world position, m), ``s`` (arc
    length along the road, m) and ``command`` (the executed curvature of the last step).

    ## Arguments

    ``gymnasium.make("lnn_drive/LaneKeeping-v0", render_mode="rgb_array", config=None,
    **fields)``: ``config`` is an :class:`~lnn_drive.envs.config.EnvConfig`; keyword
    arguments override its fields (``preset="fog"``, ``speed=12.0``, ``crash_mode=
    "intervene"``, ...). Invalid values raise ``ValueError`` naming the field.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 30}

    def __init__(
        self, render_mode: str | None = None, config: EnvConfig | None = None, **overrides: Any
    ) -> None:
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"render_mode must be one of {self.metadata['render_modes']} or None, got {render_mode!r}"
            )
        if config is None:
            config = EnvConfig(**overrides)
        elif overrides:
            config = EnvConfig.from_mapping(
                {f: getattr(config, f) for f in config.__dataclass_fields__}, **overrides
            )
        self.config = config
        self.render_mode = render_mode
        self.metadata = {**self.metadata, "render_fps": config.fps}
        self.dt = config.dt
        self.look = config.appearance
        self.camera = Camera(
            config.height, config.width, config.fov_deg, config.cam_height, config.pitch_deg
        )
        self.action_space = gym.spaces.Box(-MAX_CURVATURE, MAX_CURVATURE, (1,), np.float32)
        self.observation_space = gym.spaces.Box(0, 255, (config.height, config.width, 3), np.uint8)
        self.expert = LaneExpert(kind=config.expert, speed=config.speed)
        # the streamed texture's size follows from what the camera sees (checked now, so
        # that an impossible camera is rejected at construction)
        _, corners = camera_tables(
            self.camera, config.view_distance, RES0, len(TILES), self.look.fog_distance
        )
        self._tex_n, self._tiles = texture_layout(view_extents(corners))
        self._alpha = (
            1.0 if config.actuation_lag == 0 else 1 - math.exp(-self.dt / config.actuation_lag)
        )
        self._step_len = config.speed * self.dt
        self._threshold = config.crash_threshold
        self.road = None
        self._obs: np.ndarray | None = None

    # -------------------------------------------------------------------- gym API

    def reset(self, *, seed: int | None = None, options: Mapping[str, Any] | None = None):
        super().reset(seed=seed)
        cfg = self.config
        opts = dict(options or {})
        unknown = sorted(set(opts) - set(RESET_OPTIONS))
        if unknown:
            raise ValueError(f"unknown reset option(s) {unknown}; valid: {list(RESET_OPTIONS[:3])}")
        lo0 = self._finite_option(opts, "lateral_offset", 0.0)
        he0 = self._finite_option(opts, "heading_error", 0.0)
        s0 = self._finite_option(opts, "start_s", cfg.start_s)
        if not 0 <= s0 <= 10_000:
            raise ValueError(f"reset option start_s must be in [0, 10000] m, got {s0}")
        if abs(lo0) >= cfg.crash_threshold:
            raise ValueError(
                f"reset option lateral_offset={lo0} is outside the lane (|offset| must be < {cfg.crash_threshold} m)"
            )
        if abs(he0) > math.pi / 2:
            raise ValueError(f"reset option heading_error must be in [-pi/2, pi/2], got {he0}")
        length = cfg.road_length or (
            cfg.max_episode_steps * self._step_len * 1.05 + cfg.view_distance + 60.0
        )
        length = max(length, s0 + cfg.view_distance + 60.0)
        rng = self.np_random
        self.road = generate_road(
            rng,
            length=length,
            max_curvature=cfg.max_road_curvature,
            lane_width=cfg.lane_width,
            shoulder_width=cfg.shoulder_width,
        )
        objs = generate_objects(
            rng, self.road, self.look, density=cfg.object_density, start=max(s0 - 20.0, 0.0)
        )
        sun = float(rng.uniform(-math.pi, math.pi))
        shadows = shadow_polygons(objs, sun, self.look.sun_elevation_deg)
        old = getattr(self, "renderer", None)
        ground = GroundTexture(
            self.road,
            shadows,
            self.look,
            n=self._tex_n,
            tiles=self._tiles,
            reuse=old.ground if old else None,
        )
        self.renderer = Renderer(
            self.camera, ground, objs, self.look, rng, view_distance=cfg.view_distance
        )
        self._end_s = self.road.length - cfg.view_distance - 20.0
        self.objects = objs
        self.sun_azimuth = sun
        self._place(s0, lo0, he0)
        self.distance = 0.0
        self.interventions = 0
        self.last_command = float(self._kappa)
        self._obs = self.renderer.render(self.x, self.y, self.yaw, self.s)
        return self._obs, self._info(False)

    def step(self, action):
        if self.road is None:
            raise RuntimeError("call reset() before step()")
        k_cmd = self._action(action)
        cfg = self.config
        # actuation: first-order lag, then noise
        self._kappa += self._alpha * (k_cmd - self._kappa)
        k = self._kappa
        if cfg.steer_noise_std > 0:
            k += cfg.steer_noise_std * float(self.np_random.standard_normal())
        self.last_command = k
        # kinematic bicycle over one step, exact for constant curvature
        L = self._step_len
        dpsi = k * L
        chord = L if abs(dpsi) < 1e-9 else 2.0 * math.sin(0.5 * dpsi) / k
        mid = self.yaw + 0.5 * dpsi
        self.x += chord * math.cos(mid)
        self.y += chord * math.sin(mid)
        self.yaw += dpsi
        s_prev = self.s
        self._locate()
        self.distance += L
        reward = (self.s - s_prev) / L - (self.lateral_offset / self._threshold) ** 2
        terminated = False
        intervened = False
        if abs(self.lateral_offset) > self._threshold:
            reward = CRASH_REWARD
            if cfg.crash_mode == "terminate":
                terminated = True
            else:
                self.interventions += 1
                intervened = True
                self._place(self.s, 0.0, 0.0)
        truncated = self.s >= self._end_s
        self._obs = self.renderer.render(self.x, self.y, self.yaw, self.s)
        return self._obs, float(reward), terminated, bool(truncated), self._info(intervened)

    def render(self) -> np.ndarray | None:
        """The current camera frame (``render_mode="rgb_array"``), a copy."""
        if self.render_mode != "rgb_array":
            return None
        if self._obs is None:
            raise RuntimeError("call reset() before render()")
        return self._obs.copy()

    def render_labels(self) -> np.ndarray:
        """Per-pixel semantic labels uint8 (H, W) of the current view, classes in
        :data:`~lnn_drive.envs.config.LABEL_CLASSES` (0 sky, 1 ground, 2 road, 3 marking,
        4 object)."""
        if self.road is None:
            raise RuntimeError("call reset() before render_labels()")
        return self.renderer.render_labels(self.x, self.y, self.yaw, self.s)

    # -------------------------------------------------------------------- internals

    @staticmethod
    def _finite_option(opts: Mapping[str, Any], name: str, default: float) -> float:
        v = opts.get(name, default)
        try:
            v = float(v)
        except (TypeError, ValueError):
            raise ValueError(f"reset option {name} must be a number, got {v!r}") from None
        if not math.isfinite(v):
            raise ValueError(f"reset option {name} must be finite, got {v}")
        return v

    def _action(self, action: Any) -> float:
        if isinstance(action, np.ndarray) and action.shape == (1,):
            k = float(action[0])
        else:
            try:
                arr = np.asarray(action, dtype=np.float64)
            except (TypeError, ValueError):
                raise ValueError(
                    f"action must be a curvature (a number or an array of shape (1,)), got {action!r}"
                ) from None
            if arr.size != 1 or arr.ndim > 1:
                raise ValueError(
                    f"action must have shape (1,) (path curvature, 1/m), got shape {arr.shape}"
                )
            k = float(arr.reshape(-1)[0])
        if not math.isfinite(k):
            raise ValueError(f"action must be finite, got {k} (path curvature, 1/m)")
        return min(max(k, -MAX_CURVATURE), MAX_CURVATURE)

    def _place(self, s: float, lateral_offset: float, heading_error: float) -> None:
        """Put the car at arc length ``s``, ``lateral_offset`` from the lane centre."""
        road = self.road
        x, y, h = road.pose(s, road.lane_centre + lateral_offset)
        self.x, self.y, self.yaw = x, y, h + heading_error
        self._hint = int(round(s / DS))
        k = road.curvature_at(s)
        self._kappa = k / (1.0 - road.lane_centre * k) if heading_error == 0 else 0.0
        self._locate()

    def _locate(self) -> None:
        r = self.road
        i, s, d, h, k = project(r.x, r.y, r.heading, r.curvature, self.x, self.y, self._hint, 8)
        self._hint = i
        self.s = s
        self.lateral_offset = d - r.lane_centre
        self.heading_error = _wrap(self.yaw - h)
        self.road_curvature = k

    def _info(self, intervened: bool) -> dict[str, Any]:
        cfg = self.config
        expert = self.expert.action(
            self.road,
            x=self.x,
            y=self.y,
            yaw=self.yaw,
            s=self.s,
            lateral_offset=self.lateral_offset,
            heading_error=self.heading_error,
        )
        return {
            "lateral_offset": self.lateral_offset,
            "heading_error": self.heading_error,
            "distance": self.distance,
            "road_curvature": self.road_curvature,
            "road_curvature_ahead": self.road.curvature_at(self.s + cfg.speed),
            "on_road": abs(self.lateral_offset) <= self._threshold,
            "interventions": self.interventions,
            "intervened": intervened,
            "expert_action": expert,
            "command": self.last_command,
            "x": self.x,
            "y": self.y,
            "s": self.s,
        }
