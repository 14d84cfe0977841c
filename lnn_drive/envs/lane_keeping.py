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
from lnn_drive.envs.options import finite_option
from lnn_drive.envs.render import Camera, Renderer, camera_tables, view_extents
from lnn_drive.envs.road import DS, generate_road, project
from lnn_drive.envs.scenery import generate_objects, shadow_polygons
from lnn_drive.envs.traffic import Traffic

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
    out-of-distribution tests. The ``hard`` task profile (``profile="hard"``,
    ``lnn_drive/LaneKeepingHard-v0``) adds actuation lag and steering noise, a speed of
    15-20 m/s drawn per episode, sharper bends, faded or missing lane markings, camera
    pitch/roll jitter, repeated and dropped frames, and parked and oncoming vehicles.

    ## Action Space

    ``Box(-0.1, 0.1, (1,), float32)``: path curvature in 1/m (positive turns left; 0.1 is a
    10 m radius). Out-of-bounds values are clipped to the bound; NaN or infinite values,
    a wrong shape, or anything that is not a real number (a string, a complex number,
    None, a bool) raise ``ValueError``. The car follows a kinematic bicycle model at
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
    length along the road, m), ``command`` (the executed curvature of the last step),
    ``speed`` (m/s), the stricter failure notions ``departure_1m`` / ``departures_1m``
    (``|lateral_offset|`` beyond ``strict_departure``, 1 m: now / excursions so far) and
    ``lane_departure`` / ``lane_departures`` (beyond ``lane_width / 2``), and
    ``frame_status`` (0 fresh, 1 the previous frame repeated, 2 a black, dropped frame).

    ## Arguments

    ``gymnasium.make("lnn_drive/LaneKeeping-v0", render_mode="rgb_array", config=None,
    profile=None, **fields)``: ``config`` is an :class:`~lnn_drive.envs.config.EnvConfig`,
    ``profile`` the name of a task profile (``"easy"``, ``"hard"``; not both); keyword
    arguments override its fields (``preset="fog"``, ``speed=12.0``, ``crash_mode=
    "intervene"``, ...). Invalid values raise ``ValueError`` naming the field.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 30}

    def __init__(
        self,
        render_mode: str | None = None,
        config: EnvConfig | None = None,
        profile: str | None = None,
        **overrides: Any,
    ) -> None:
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"render_mode must be one of {self.metadata['render_modes']} or None, got {render_mode!r}"
            )
        if profile is not None:
            if config is not None:
                raise ValueError("give either config or profile, not both")
            config = EnvConfig.from_profile(profile, **overrides)
        elif config is None:
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
        self.speed = config.speed
        self.expert = self._make_expert(config.speed)
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
            cfg.max_episode_steps * cfg.top_speed * self.dt * 1.05 + cfg.view_distance + 60.0
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
        self._reset_hard_features(rng, ground, s0)
        self._place(s0, lo0, he0)
        self.distance = 0.0
        self.interventions = 0
        self.departures_1m = self.lane_departures = 0
        self._off_1m = self._off_lane = False
        self.frame_status = 0
        self._outage_left = 0  # frames left of a repeat/drop event
        self.last_command = float(self._kappa)
        self._obs = self._render_frame()
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
        self._count_departures(abs(self.lateral_offset))
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
        if self.traffic is not None:
            self.traffic.step(self.dt)
        self._obs = self._camera_frame()
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
        return self.renderer.render_labels(
            self.x, self.y, self.yaw, self.s, extra=self._vehicles(), tilt=self._tilt
        )

    # -------------------------------------------------------------------- internals

    def _make_expert(self, speed: float) -> LaneExpert:
        return LaneExpert(
            kind=self.config.expert,
            speed=speed,
            lag=self.config.actuation_lag if self.config.expert_compensation else 0.0,
        )

    def _reset_hard_features(self, rng: np.random.Generator, ground: Any, s0: float) -> None:
        """Draw what the hard profile adds (episode speed, faded markings, vehicles,
        camera jitter). Each draws from ``rng`` only when enabled, after everything the
        easy task draws, so that the easy task stays what it was."""
        cfg = self.config
        if cfg.speed_max is not None:
            self.speed = float(rng.uniform(cfg.speed, cfg.speed_max))
            self.expert = self._make_expert(self.speed)
        self._step_len = self.speed * self.dt
        if cfg.marking_fade > 0:
            ground.fade_markings(self._fade_stretches(rng))
        self.traffic = None
        if cfg.parked_density > 0 or cfg.oncoming_density > 0:
            self.traffic = Traffic(
                rng,
                self.road,
                parked_density=cfg.parked_density,
                oncoming_density=cfg.oncoming_density,
                oncoming_speed=cfg.oncoming_speed,
                horizon=cfg.max_episode_steps * self.dt,
                start=max(s0 - 20.0, 0.0),
            )
        self._jitter_std = np.radians([cfg.pitch_jitter_deg, cfg.roll_jitter_deg])
        self._jitter = self._jitter_std * rng.standard_normal(2) if self._jitter_std.any() else None
        self._tilt: tuple[float, float] | None = None

    def _fade_stretches(self, rng: np.random.Generator) -> np.ndarray:
        """(F, 3) stretches ``(s0, s1, contrast)`` covering about ``marking_fade`` of the road."""
        cfg = self.config
        out, s = [], 0.0
        gap = 75.0 * (1 - cfg.marking_fade) / cfg.marking_fade  # mean length between stretches
        while True:
            s += rng.exponential(gap)
            n = rng.uniform(30.0, 120.0)
            if s >= self.road.length:
                break
            missing = rng.random() < cfg.marking_missing
            out.append((s, s + n, 0.0 if missing else rng.uniform(0.15, 0.5)))
            s += n
        return np.asarray(out, np.float64).reshape(-1, 3)

    def _vehicles(self) -> np.ndarray | None:
        return None if self.traffic is None else self.traffic.near(self.s)

    def _render_frame(self) -> np.ndarray:
        if self._jitter is not None:
            self._tilt = (float(self._jitter[0]), float(self._jitter[1]))
        return self.renderer.render(
            self.x, self.y, self.yaw, self.s, extra=self._vehicles(), tilt=self._tilt
        )

    def _camera_frame(self) -> np.ndarray:
        """The next observation: a fresh frame, the previous one again, or a black one."""
        cfg = self.config
        if self._jitter is not None:
            r = cfg.jitter_corr
            self._jitter = r * self._jitter + math.sqrt(1 - r * r) * self._jitter_std * (
                self.np_random.standard_normal(2)
            )
        if self._outage_left > 0:  # an event of several frames goes on
            self._outage_left -= 1
            if self.frame_status == 2:
                return np.zeros_like(self._obs)
            return self._obs.copy()
        self.frame_status = 0
        if cfg.frame_repeat_prob > 0 or cfg.frame_drop_prob > 0:
            u = float(self.np_random.random())
            if u < cfg.frame_drop_prob + cfg.frame_repeat_prob:
                self.frame_status = 2 if u < cfg.frame_drop_prob else 1
                if cfg.frame_outage_frames > 1:  # (no extra draw for single frames)
                    self._outage_left = int(self.np_random.integers(cfg.frame_outage_frames))
                if self.frame_status == 2:
                    return np.zeros_like(self._obs)
                return self._obs.copy()
        return self._render_frame()

    def _count_departures(self, off: float) -> None:
        """Count the times ``|offset|`` first exceeds 1 m and the lane's half-width."""
        off_1m = off > self.config.strict_departure
        off_lane = off > self.config.lane_width / 2
        self.departures_1m += int(off_1m and not self._off_1m)
        self.lane_departures += int(off_lane and not self._off_lane)
        self._off_1m, self._off_lane = off_1m, off_lane

    @staticmethod
    def _finite_option(opts: Mapping[str, Any], name: str, default: float) -> float:
        return finite_option(name, opts.get(name, default))

    def _action(self, action: Any) -> float:
        if isinstance(action, np.ndarray) and action.shape == (1,) and action.dtype.kind == "f":
            k = float(action[0])
        else:
            # refuse what a curvature cannot be instead of coercing it: a string ("0.1"),
            # a complex number (its imaginary part would be dropped), None, a bool
            arr = None
            if action is not None and not isinstance(action, str | bytes | bool | np.bool_):
                try:
                    arr = np.asarray(action)
                except (TypeError, ValueError):
                    arr = None
            if arr is None or arr.dtype.kind not in "fiu":
                raise ValueError(
                    "action must be a real curvature (a number or an array of shape (1,), "
                    f"1/m), got {action!r}"
                )
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
            "road_curvature_ahead": self.road.curvature_at(self.s + self.speed),
            "on_road": abs(self.lateral_offset) <= self._threshold,
            "interventions": self.interventions,
            "intervened": intervened,
            "expert_action": expert,
            "command": self.last_command,
            "x": self.x,
            "y": self.y,
            "s": self.s,
            "speed": self.speed,
            "departure_1m": self._off_1m,
            "departures_1m": self.departures_1m,
            "lane_departure": self._off_lane,
            "lane_departures": self.lane_departures,
            "frame_status": self.frame_status,
        }
