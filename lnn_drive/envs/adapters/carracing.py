"""Gymnasium's ``CarRacing-v3`` through the adapter layer, and its privileged expert.

Everything CarRacing-specific lives here (and in ``conf/env/carracing.yaml``).

Units: CarRacing's Box2D world units are treated as metres (the car is 5 units long and
2.4 wide, like a real car); time in seconds at the env's 50 Hz.

Policy outputs (two motor neurons, see ``docs/carracing.md`` for why two):

- ``steering``: path curvature, 1/m, positive turning left (the project's convention),
  bounded by the front wheels' 0.4 rad lock: ``|steering| <= tan(0.4) / 3.24 m``. The
  adapter sends CarRacing's ``steer = -atan(steering * wheelbase)`` (its steer action is
  the front wheels' target angle in rad, positive turning right).
- ``longitudinal``: in [-1, 1]; ``gas = max(u, 0)``, ``brake = max(-u, 0)``. Gas and brake
  are never wanted together, so one signed output loses nothing and cannot ask for both.

Observation: the env's own 96x96 RGB frame, unchanged. Its bottom 12 rows are the
dashboard (speed, ABS, steering-wheel position, gyro), which shows the label; the adapter's
:meth:`CarRacingAdapter.preprocess` crops them away (``crop_bottom=12``), and that one
``Preprocess`` goes into the data config and the checkpoint.

The expert (:class:`CarRacingExpert`) sees the track polyline ``env.unwrapped.track`` and
the car's hull pose and velocity. At reset it plans a racing line inside the road (an
elastic band pulled tight between the road's edges, less a margin) and a speed profile on
it (``sqrt(a_lat / |curvature|)``, limited backwards by a braking deceleration and by the
100 m/s that Box2D's 2 m-per-step translation cap allows); each step it steers by pure
pursuit onto the racing line and sets gas or brake from the planned speed just ahead, with
traction control (no gas while the car slides or the wheels are near full lock: the car is
rear-wheel drive).
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from lnn_drive.data.preprocess import Preprocess
from lnn_drive.envs.adapters import (
    ImageEnvAdapter,
    SignalSpec,
    adapter_metadata,
    dart_outputs,
    find_adapter,
    log_signals,
    record_adapter_episodes,
)

#: The wrapped environment.
BASE_ID = "CarRacing-v3"
#: The adapted environment, registered by ``lnn_drive.envs.adapters``.
ENV_ID = "lnn_drive/CarRacing-v3"
#: Distance between the front and rear axles (m): wheels at y = +80 and -82 x 0.02.
WHEELBASE = 3.24
#: Front-wheel lock (rad): the steering joint's limits.
MAX_WHEEL_ANGLE = 0.4
#: Path-curvature bound (1/m) at full lock.
MAX_CURVATURE = math.tan(MAX_WHEEL_ANGLE) / WHEELBASE
#: Rows of the dashboard strip at the bottom of the 96x96 frame (5/40 of the height).
DASHBOARD_ROWS = 12
#: Control period (s): CarRacing runs at 50 Hz.
DT = 1.0 / 50.0

OUTPUTS: tuple[SignalSpec, ...] = (
    SignalSpec(
        name="steering",
        unit="1/m",
        low=-MAX_CURVATURE,
        high=MAX_CURVATURE,
        description="path curvature, positive turning left; full lock = 0.4 rad front wheels",
    ),
    SignalSpec(
        name="longitudinal",
        unit="1",
        low=-1.0,
        high=1.0,
        description="gas fraction when positive, brake fraction when negative",
    ),
)

INFO_SIGNALS: dict[str, str] = {
    "speed": "m/s",
    "progress": "1",  # fraction of the track's tiles visited
    "off_track": "1",  # 1 while no wheel touches a road tile
    "off_track_events": "1",  # on-road -> off-road transitions since reset
    "lateral_offset": "m",  # from the track centre line, positive left
    "heading_error": "rad",  # car heading minus track heading, positive left
    "road_curvature": "1/m",  # centre-line curvature at the car
    "distance": "m",  # odometer since reset
    "x": "m",
    "y": "m",
    "laps": "1",  # laps completed (CarRacing ends the episode at the first)
    "episode_return": "1",  # CarRacing's reward summed since reset
}


def _wrap(a: np.ndarray | float) -> np.ndarray | float:
    return (a + np.pi) % (2 * np.pi) - np.pi


@dataclass(frozen=True, kw_only=True)
class ExpertConfig:
    """Gains of :class:`CarRacingExpert` (tuned on seeds 0-3; evaluated on others).

    Attributes:
        a_lat: Lateral acceleration (m/s^2) of the speed plan in bends.
        a_brake: Deceleration (m/s^2) of the speed plan ahead of bends.
        v_top: Speed cap (m/s); Box2D caps translation at 2 m per 20 ms step anyway.
        line_offset: Farthest the racing line strays from the centre line (m; the road's
            edge is 6.67 m from it).
        band_iters: Iterations of the elastic band that pulls the racing line tight.
        curvature_stencil: Curvature of the racing line through points this many
            track points (3.5 m each) apart.
        curvature_smooth: Moving average (points, odd) over that curvature.
        lookahead_gain, lookahead_min: Pure-pursuit distance ``max(min, gain * speed)`` (m).
        speed_preview: Track points ahead over which the planned speed's minimum is the
            target.
        kp_gas, kp_brake: Gas and brake per m/s of speed error.
        max_brake: Brake ceiling (0.9 and above locks the wheels).
        slip_cut: Side-slip angle (rad) at which traction control cuts gas to zero.
        lock_cut: Wheel angle (rad) at which traction control cuts gas to zero.
    """

    # speed plan
    a_lat: float = 240.0
    a_brake: float = 180.0
    v_top: float = 100.0
    # racing line
    line_offset: float = 2.0
    band_iters: int = 500
    curvature_stencil: int = 2
    curvature_smooth: int = 5
    # pure pursuit
    lookahead_gain: float = 0.25
    lookahead_min: float = 6.0
    # speed control and traction control
    speed_preview: int = 3
    kp_gas: float = 0.2
    kp_brake: float = 0.2
    max_brake: float = 0.8
    slip_cut: float = 0.15
    lock_cut: float = 0.4

    def __post_init__(self) -> None:
        positive = ("a_lat", "a_brake", "v_top", "lookahead_gain", "lookahead_min")
        for name in (*positive, "kp_gas", "kp_brake", "slip_cut", "lock_cut"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v > 0):
                raise ValueError(f"env.expert.{name} must be a positive number, got {v}")
        if not 0 <= self.line_offset < 6.5:
            raise ValueError(
                f"env.expert.line_offset must be in [0, 6.5) m, got {self.line_offset}"
            )
        if self.curvature_smooth < 1 or self.curvature_smooth % 2 == 0:
            raise ValueError(
                f"env.expert.curvature_smooth must be odd and >= 1, got {self.curvature_smooth}"
            )
        if self.band_iters < 0 or self.curvature_stencil < 1 or self.speed_preview < 1:
            raise ValueError(
                "env.expert: band_iters >= 0, curvature_stencil >= 1 and speed_preview >= 1 "
                f"required, got {self.band_iters}, {self.curvature_stencil}, {self.speed_preview}"
            )
        if not 0 < self.max_brake < 0.9:
            raise ValueError(f"env.expert.max_brake must be in (0, 0.9), got {self.max_brake}")


def _from_mapping(cls: type, d: Mapping[str, Any], where: str) -> Any:
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(d) - known)
    if unknown:
        raise ValueError(
            f"unknown {where} option(s): {', '.join(unknown)}; valid: {', '.join(sorted(known))}"
        )
    return cls(**d)


@dataclass(frozen=True, kw_only=True)
class CarRacingConfig:
    """``conf/env/carracing.yaml``: the wrapped env's arguments and the expert's gains.

    Attributes:
        domain_randomize: CarRacing's random road and grass colours at every reset (the
            out-of-distribution condition).
        lap_complete_percent: Share of tiles to visit before crossing the start ends a lap.
        max_episode_steps: Time limit (CarRacing-v3's own is 1000 steps, 20 s).
        pixels: Render observations. ``False`` returns black frames and skips CarRacing's
            pygame drawing, which is about 99% of a step's cost; the dynamics, rewards and
            the expert do not read pixels, so privileged-only runs (expert checks) are
            identical and about 100x faster.
        expert: Gains of the privileged expert.
    """

    domain_randomize: bool = False
    lap_complete_percent: float = 0.95
    max_episode_steps: int = 1000
    pixels: bool = True
    expert: ExpertConfig = field(default_factory=ExpertConfig)

    def __post_init__(self) -> None:
        if not 0 < self.lap_complete_percent <= 1:
            raise ValueError(
                f"env.lap_complete_percent must be in (0, 1], got {self.lap_complete_percent}"
            )
        if self.max_episode_steps < 1:
            raise ValueError(f"env.max_episode_steps must be >= 1, got {self.max_episode_steps}")

    @classmethod
    def from_mapping(cls, d: Mapping[str, Any] | None = None, **overrides: Any) -> CarRacingConfig:
        """From the ``env`` config group (its ``id`` and ``preprocess`` keys are not env
        options and are skipped); unknown keys are an error that names them."""
        d = {str(k): v for k, v in dict(d or {}).items() if k not in ("id", "preprocess")}
        d.update(overrides)
        expert = d.pop("expert", None)
        if isinstance(expert, ExpertConfig):
            d["expert"] = expert
        else:
            d["expert"] = _from_mapping(ExpertConfig, dict(expert or {}), "env.expert")
        return _from_mapping(cls, d, "env")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, kw_only=True)
class Track:
    """A CarRacing track as polylines (N points, closed; point i ends tile i).

    Attributes:
        centre: (N, 2) centre-line points.
        heading: (N,) travel direction at each point (rad, world frame).
        normal: (N, 2) unit left normals.
        curvature: (N,) centre-line curvature (1/m, positive left).
        line: (N, 2) the expert's racing line (``centre + offset * normal``).
        line_curvature: (N,) racing-line curvature (1/m).
        step: (N,) distance from each racing-line point to the next (m).
        speed_plan: (N,) planned speed at each racing-line point (m/s).
    """

    centre: np.ndarray
    heading: np.ndarray
    normal: np.ndarray
    curvature: np.ndarray
    line: np.ndarray
    line_curvature: np.ndarray
    step: np.ndarray
    speed_plan: np.ndarray

    def __len__(self) -> int:
        return len(self.centre)


def _menger(p: np.ndarray, m: int) -> np.ndarray:
    """Signed curvature of a closed polyline (N, 2) through points i - m, i, i + m."""
    a, b = np.roll(p, m, 0), np.roll(p, -m, 0)
    u1, u2 = p - a, b - p
    cross = u1[:, 0] * u2[:, 1] - u1[:, 1] * u2[:, 0]
    norms = np.hypot(*u1.T) * np.hypot(*u2.T) * np.hypot(*(b - a).T)
    return 2.0 * cross / np.maximum(norms, 1e-9)


def build_track(raw: list[tuple[float, float, float, float]], cfg: ExpertConfig) -> Track:
    """Plan the racing line and the speed profile on ``env.unwrapped.track``.

    Args:
        raw: CarRacing's track, ``(alpha, beta, x, y)`` per point; the car travels along
            ``(-sin beta, cos beta)``.
        cfg: Expert gains (line offset, band iterations, accelerations).
    """
    tr = np.asarray(raw, np.float64)  # (N, 4)
    if tr.ndim != 2 or tr.shape[1] != 4 or len(tr) < 8:
        raise ValueError(f"CarRacing track of shape {tr.shape}; expected (N >= 8, 4)")
    centre = tr[:, 2:4].copy()
    heading = _wrap(tr[:, 1] + np.pi / 2)
    normal = np.stack([-np.sin(heading), np.cos(heading)], 1)  # (N, 2), left of travel
    half = cfg.line_offset
    off = np.zeros(len(centre))
    for _ in range(cfg.band_iters):
        p = centre + off[:, None] * normal
        mid = 0.5 * (np.roll(p, 1, 0) + np.roll(p, -1, 0))
        off = np.clip(off + ((mid - p) * normal).sum(1), -half, half)
    line = centre + off[:, None] * normal
    d = np.roll(line, -1, 0) - line
    step = np.hypot(d[:, 0], d[:, 1])
    k_line = _menger(line, cfg.curvature_stencil)
    h = cfg.curvature_smooth // 2
    if h:
        ring = np.concatenate([k_line[-h:], k_line, k_line[:h]])  # closed loop
        k_line = np.convolve(ring, np.full(2 * h + 1, 1.0 / (2 * h + 1)), "valid")
    v = np.minimum(np.sqrt(cfg.a_lat / np.maximum(np.abs(k_line), 1e-9)), cfg.v_top)
    n = len(v)
    for _ in range(2):  # twice round the closed loop so the seam is consistent
        for i in range(n - 1, -1, -1):
            v[i] = min(v[i], math.sqrt(v[(i + 1) % n] ** 2 + 2.0 * cfg.a_brake * step[i]))
    return Track(
        centre=centre,
        heading=heading,
        normal=normal,
        curvature=_menger(centre, 1),
        line=line,
        line_curvature=k_line,
        step=step,
        speed_plan=v,
    )


@dataclass(frozen=True, kw_only=True)
class CarState:
    """The privileged state the expert reads.

    Attributes:
        x, y: Hull position (m).
        yaw: Travel heading of the hull (rad, world frame).
        vx, vy: Hull velocity (m/s, world frame).
        wheel_angle: Front-wheel angle (rad, positive turning left).
    """

    x: float
    y: float
    yaw: float
    vx: float
    vy: float
    wheel_angle: float = 0.0

    @property
    def speed(self) -> float:
        return math.hypot(self.vx, self.vy)

    @classmethod
    def of(cls, car: Any) -> CarState:
        """From CarRacing's ``env.unwrapped.car`` (hull forward axis is local +y)."""
        h = car.hull
        return cls(
            x=float(h.position[0]),
            y=float(h.position[1]),
            yaw=float(h.angle) + math.pi / 2,
            vx=float(h.linearVelocity[0]),
            vy=float(h.linearVelocity[1]),
            wheel_angle=float(car.wheels[0].joint.angle),
        )


def nearest_index(track: Track, x: float, y: float, hint: int | None = None) -> int:
    """Index of the centre-line point nearest (x, y); searched near ``hint`` first (the
    track may pass close to itself), globally when that window is far off."""
    n = len(track)
    if hint is not None:
        idx = (hint + np.arange(-8, 25)) % n
        d2 = (track.centre[idx, 0] - x) ** 2 + (track.centre[idx, 1] - y) ** 2
        j = int(np.argmin(d2))
        if d2[j] < 15.0**2:
            return int(idx[j])
    d2 = (track.centre[:, 0] - x) ** 2 + (track.centre[:, 1] - y) ** 2
    return int(np.argmin(d2))


@dataclass(frozen=True, kw_only=True)
class CarRacingExpert:
    """Pure pursuit on the racing line + speed plan + traction control.

    Stateless: :meth:`action` reads the track and the car state only, so it labels any
    state the car is in (DAgger included).

    Attributes:
        cfg: The gains.
    """

    cfg: ExpertConfig = field(default_factory=ExpertConfig)

    def action(self, track: Track, car: CarState, index: int) -> np.ndarray:
        """Physical outputs ``[steering (1/m), longitudinal (1)]`` for ``car`` whose nearest
        track point is ``index``."""
        c = self.cfg
        n = len(track)
        speed = car.speed
        near = (index + np.arange(-4, 5)) % n  # the racing-line point nearest the car
        index = int(
            near[np.argmin((track.line[near, 0] - car.x) ** 2 + (track.line[near, 1] - car.y) ** 2)]
        )
        look = max(c.lookahead_min, c.lookahead_gain * speed)
        j, run = index, 0.0
        while run < look:
            run += float(track.step[j % n])
            j += 1
        tx, ty = track.line[j % n]
        dx, dy = tx - car.x, ty - car.y
        ly = -dx * math.sin(car.yaw) + dy * math.cos(car.yaw)  # target left of the car
        kappa = 2.0 * ly / max(dx * dx + dy * dy, 1e-6)
        kappa = min(max(kappa, -MAX_CURVATURE), MAX_CURVATURE)
        target = float(track.speed_plan[(index + np.arange(c.speed_preview)) % n].min())
        err = target - speed
        slip = float(_wrap(math.atan2(car.vy, car.vx) - car.yaw)) if speed > 2.0 else 0.0
        delta = math.atan(kappa * WHEELBASE)
        grip = max(0.0, 1.0 - abs(slip) / c.slip_cut) * max(0.0, 1.0 - abs(delta) / c.lock_cut)
        gas = min(max(c.kp_gas * err, 0.0), grip)
        brake = min(max(-c.kp_brake * err, 0.0), c.max_brake)
        return np.array([kappa, gas if gas > 0 else -brake], np.float64)


def to_carracing_action(physical: np.ndarray) -> np.ndarray:
    """``[steering (1/m), longitudinal]`` -> CarRacing's ``[steer, gas, brake]`` (float32)."""
    kappa, u = float(physical[0]), float(physical[1])
    return np.array([-math.atan(kappa * WHEELBASE), max(u, 0.0), max(-u, 0.0)], np.float32)


def from_carracing_action(action: np.ndarray) -> np.ndarray:
    """CarRacing's ``[steer, gas, brake]`` -> ``[steering (1/m), longitudinal]``."""
    steer = min(max(float(action[0]), -MAX_WHEEL_ANGLE), MAX_WHEEL_ANGLE)
    return np.array([math.tan(-steer) / WHEELBASE, float(action[1]) - float(action[2])])


class CarRacingAdapter(ImageEnvAdapter):
    """``CarRacing-v3`` with physical actions, the dashboard cropped by the preprocessing,
    and the signals evaluation and logging need in ``info``.

    ## Description
    Gymnasium's top-down racing car on a random closed track (see the module docstring
    for units and the expert).

    ## Action Space
    ``Box([-0.1305, -1], [0.1305, 1])``: ``steering`` (path curvature, 1/m, positive left)
    and ``longitudinal`` (gas when positive, brake when negative).

    ## Observation Space
    CarRacing's 96x96 RGB frame; the bottom 12 rows (dashboard) are cut by
    :meth:`preprocess`.

    ## Rewards
    CarRacing's: +1000/N per new tile (N tiles), -0.1 per step, -100 off the playfield.

    ## Starting State / Episode End
    CarRacing's: at rest on the first tile; ends when the lap completes, off the
    playfield, or at ``max_episode_steps``.

    ## Arguments
    ``config`` (:class:`CarRacingConfig`).
    """

    outputs = OUTPUTS
    info_signals = INFO_SIGNALS

    def __init__(self, env: gym.Env, config: CarRacingConfig | None = None) -> None:
        super().__init__(env)
        self.config = config or CarRacingConfig()
        self.expert = CarRacingExpert(cfg=self.config.expert)
        self.track: Track | None = None
        self._index = 0
        self._distance = 0.0
        self._off = False
        self._off_events = 0
        self._laps = 0
        self._return = 0.0
        if not self.config.pixels:
            shape = self.observation_space.shape
            # CarRacing draws the frame in step(); a stand-in skips only the drawing.
            self.env.unwrapped._render = lambda mode: np.zeros(shape, np.uint8)

    def preprocess(self) -> Preprocess:
        h, w = self.observation_space.shape[:2]
        return Preprocess(
            height=h - DASHBOARD_ROWS,
            width=w,
            crop_bottom=DASHBOARD_ROWS,
            in_height=h,
            in_width=w,
        )

    def to_env_action(self, physical: np.ndarray) -> np.ndarray:
        return to_carracing_action(physical)

    def from_env_action(self, action: np.ndarray) -> np.ndarray:
        return from_carracing_action(action)

    def car_state(self) -> CarState:
        return CarState.of(self.env.unwrapped.car)

    def _off_road(self) -> bool:
        return all(len(w.tiles) == 0 for w in self.env.unwrapped.car.wheels)

    def signals(self) -> dict[str, float]:
        assert self.track is not None, "reset() first"
        u = self.env.unwrapped
        car = self.car_state()
        i = self._index
        cx, cy = self.track.centre[i]
        nx, ny = self.track.normal[i]
        return {
            "speed": car.speed,
            "progress": u.tile_visited_count / len(u.track),
            "off_track": float(self._off),
            "off_track_events": float(self._off_events),
            "lateral_offset": (car.x - cx) * nx + (car.y - cy) * ny,
            "heading_error": float(_wrap(car.yaw - self.track.heading[i])),
            "road_curvature": float(self.track.curvature[i]),
            "distance": self._distance,
            "x": car.x,
            "y": car.y,
            "laps": float(self._laps),
            "episode_return": self._return,
        }

    def expert_outputs(self) -> np.ndarray:
        assert self.track is not None, "reset() first"
        return self.expert.action(self.track, self.car_state(), self._index)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        obs, info = self.env.reset(seed=seed, options=options)
        u = self.env.unwrapped
        self.track = build_track(u.track, self.config.expert)
        car = self.car_state()
        self._index = nearest_index(self.track, car.x, car.y)
        self._distance = 0.0
        self._off = self._off_road()
        self._off_events = 0
        self._laps = 0
        self._return = 0.0
        return obs, self._with_signals(info)

    def step(self, action: np.ndarray):
        obs, reward, terminated, truncated, info = self.env.step(
            self.to_env_action(self.clip(action))
        )
        car = self.car_state()
        self._index = nearest_index(self.track, car.x, car.y, hint=self._index)
        self._distance += car.speed * DT
        off = self._off_road()
        self._off_events += int(off and not self._off)
        self._off = off
        self._laps += int(bool(info.get("lap_finished", False)))
        self._return += float(reward)
        return obs, reward, terminated, truncated, self._with_signals(info)


def make_carracing(
    config: CarRacingConfig | Mapping[str, Any] | None = None,
    *,
    render_mode: str | None = None,
    **overrides: Any,
) -> gym.Env:
    """``gymnasium.make("CarRacing-v3")`` wrapped in :class:`CarRacingAdapter`.

    Args:
        config: A :class:`CarRacingConfig` or the ``env`` config mapping.
        render_mode: Passed to CarRacing (``None``: observations only, fastest).
        **overrides: Field values replacing those of ``config``.

    Raises:
        ValueError: an unknown option or an invalid value, named.
        ImportError: Box2D or pygame (the ``carracing`` extra) is missing.
    """
    if not isinstance(config, CarRacingConfig) or overrides:
        base = config.to_dict() if isinstance(config, CarRacingConfig) else dict(config or {})
        config = CarRacingConfig.from_mapping(base, **overrides)
    try:
        env = gym.make(
            BASE_ID,
            render_mode=render_mode,
            continuous=True,
            domain_randomize=config.domain_randomize,
            lap_complete_percent=config.lap_complete_percent,
            max_episode_steps=config.max_episode_steps,
        )
    except gym.error.DependencyNotInstalled as e:
        raise ImportError(
            f"{BASE_ID} needs Box2D and pygame: pip install 'lnn_drive[carracing]' ({e})"
        ) from e
    return CarRacingAdapter(env, config)


def carracing_env_fn(
    config: CarRacingConfig | Mapping[str, Any] | None = None, **overrides: Any
) -> Callable[[], gym.Env]:
    """A picklable zero-argument constructor (validated now, not in a worker)."""
    if not isinstance(config, CarRacingConfig) or overrides:
        base = config.to_dict() if isinstance(config, CarRacingConfig) else dict(config or {})
        config = CarRacingConfig.from_mapping(base, **overrides)
    return functools.partial(make_carracing, config)


# ---------------------------------------------------------------------------- expert runs


@dataclass(frozen=True, kw_only=True)
class EpisodeResult:
    """One expert episode.

    Attributes:
        seed: Track seed.
        ret: Return (CarRacing's reward summed).
        steps: Steps taken.
        laps: Laps completed (0 or 1).
        progress: Share of tiles visited.
        off_track_events: On-road -> off-road transitions.
        off_track_steps: Steps with no wheel on the road.
        max_speed: Highest speed (m/s).
        seconds: Wall time of the episode.
    """

    seed: int
    ret: float
    steps: int
    laps: int
    progress: float
    off_track_events: int
    off_track_steps: int
    max_speed: float
    seconds: float


def run_expert_episode(env: gym.Env, seed: int) -> EpisodeResult:
    """Drive the clean expert for one episode of ``env`` (an adapted CarRacing)."""
    from lnn_drive.envs.record import Episode, FunctionRule, record_episodes

    t0 = time.perf_counter()
    last: list[Mapping[str, Any]] = [{}]
    off_steps, vmax = 0, 0.0

    def after(info: Mapping[str, Any]) -> None:
        nonlocal off_steps, vmax
        last[0] = info
        off_steps += int(info["off_track"])
        vmax = max(vmax, float(info["speed"]))

    rule = FunctionRule(lambda obs, info: info["expert_outputs"])
    stats = record_episodes(env, None, rule, episodes=[Episode(seed=seed)], after_step=after)
    info = last[0]
    return EpisodeResult(
        seed=int(seed),
        ret=stats.reward,
        steps=stats.frames,
        laps=int(info["laps"]),
        progress=float(info["progress"]),
        off_track_events=int(info["off_track_events"]),
        off_track_steps=off_steps,
        max_speed=vmax,
        seconds=time.perf_counter() - t0,
    )


def evaluate_expert(
    config: CarRacingConfig | Mapping[str, Any] | None = None,
    *,
    seeds: list[int],
    on_episode: Callable[[EpisodeResult], None] | None = None,
) -> tuple[list[EpisodeResult], dict[str, Any]]:
    """Drive the clean expert on each track seed; returns the episodes and :func:`summarise`.
    With ``pixels=False`` in the config it runs about 100x faster and scores the same."""
    if not seeds:
        raise ValueError("evaluate_expert: no seeds given")
    env = make_carracing(config)
    results: list[EpisodeResult] = []
    try:
        for s in seeds:
            results.append(run_expert_episode(env, int(s)))
            if on_episode is not None:
                on_episode(results[-1])
    finally:
        env.close()
    return results, summarise(results)


def summarise(results: list[EpisodeResult]) -> dict[str, Any]:
    """Return distribution of expert episodes: mean, std, min, percentiles, laps, off-track."""
    r = np.array([e.ret for e in results], np.float64)
    steps = int(sum(e.steps for e in results))
    secs = float(sum(e.seconds for e in results))
    pct = {f"p{q}": float(np.percentile(r, q)) for q in (5, 10, 25, 50, 75, 90, 95)}
    return {
        "episodes": len(results),
        "mean": float(r.mean()),
        "std": float(r.std()),
        "min": float(r.min()),
        "max": float(r.max()),
        **pct,
        "laps": int(sum(e.laps for e in results)),
        "off_track_events": int(sum(e.off_track_events for e in results)),
        "episodes_with_off_track": int(sum(e.off_track_events > 0 for e in results)),
        "mean_steps": steps / max(len(results), 1),
        "steps_per_s": steps / max(secs, 1e-9),
        "worst_seeds": [e.seed for e in sorted(results, key=lambda e: e.ret)[:5]],
    }


# ---------------------------------------------------------------------------- logs


@dataclass(frozen=True, kw_only=True)
class CollectConfig:
    """What :func:`collect` writes.

    Attributes:
        out: Destination dataset folder (must not exist unless ``overwrite``).
        episodes: One track each: ``seed``, ``seed + 1``, ...
        seed: First track seed; the DART generator is seeded from it too.
        dart_steering: DART noise std on the executed steering (1/m); labels stay clean.
        dart_longitudinal: DART noise std on the executed gas/brake (fraction).
        encoding: Frame container (``ffv1`` lossless or ``mp4v``).
        overwrite: Replace an existing dataset at ``out``.
    """

    out: str
    episodes: int = 10
    seed: int = 0
    dart_steering: float = 0.005
    dart_longitudinal: float = 0.1
    encoding: str = "ffv1"
    overwrite: bool = False

    def __post_init__(self) -> None:
        if not str(self.out) or str(self.out) == "???":
            raise ValueError("collect: out (the dataset folder) is required")
        if self.episodes < 1:
            raise ValueError(f"collect: episodes must be >= 1, got {self.episodes}")
        if not (math.isfinite(self.dart_steering) and 0 <= self.dart_steering <= MAX_CURVATURE):
            raise ValueError(
                f"collect: dart steering std must be in [0, {MAX_CURVATURE:.4f}] 1/m, "
                f"got {self.dart_steering}"
            )
        if not (math.isfinite(self.dart_longitudinal) and 0 <= self.dart_longitudinal <= 1):
            raise ValueError(
                f"collect: dart longitudinal std must be in [0, 1], got {self.dart_longitudinal}"
            )


def collect(
    ccfg: CollectConfig,
    env_cfg: CarRacingConfig | Mapping[str, Any] | None = None,
    *,
    progress: bool = False,
) -> dict[str, Any]:
    """Drive the expert with DART noise on CarRacing and write a driving log through
    :class:`~lnn_drive.data.log.LogWriter` (full 96x96 frames; the dataset's metadata
    names the outputs, their units and bounds, and the dashboard-cropping preprocessing).

    Returns:
        ``{"out", "episodes", "frames", "mean_return", "laps", "off_track_events",
        "seconds", "per_episode"}``.
    """
    from lnn_drive.data.log import LogWriter

    env = make_carracing(env_cfg)
    cfg = find_adapter(env).config
    rng = np.random.default_rng([ccfg.seed, 0xDA27])
    h, w = env.observation_space.shape[:2]
    t0 = time.perf_counter()
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=ccfg.episodes * cfg.max_episode_steps, unit="frame", desc="collect")
    try:
        with LogWriter(
            ccfg.out,
            height=h,
            width=w,
            fps=1.0 / DT,
            signals=log_signals(env),
            source=f"gymnasium:{BASE_ID}",
            encoding=ccfg.encoding,
            overwrite=ccfg.overwrite,
            extra={
                **adapter_metadata(env),
                "env": cfg.to_dict(),
                "dart_std": {
                    "steering": ccfg.dart_steering,
                    "longitudinal": ccfg.dart_longitudinal,
                },
                "expert": "carracing_pure_pursuit",
            },
        ) as log:
            per = record_adapter_episodes(
                env,
                log,
                seeds=list(range(ccfg.seed, ccfg.seed + ccfg.episodes)),
                dart_std=np.array([ccfg.dart_steering, ccfg.dart_longitudinal]),
                rng=rng,
                meta={"domain_randomize": cfg.domain_randomize},
                on_step=None if bar is None else (lambda: bar.update(1)),
            )
    finally:
        env.close()
        if bar is not None:
            bar.close()
    return {
        "out": str(Path(ccfg.out).absolute()),
        "episodes": len(per),
        "frames": int(sum(e["frames"] for e in per)),
        "mean_return": float(np.mean([e["episode_return"] for e in per])),
        "laps": int(sum(e["laps"] for e in per)),
        "off_track_events": int(sum(e["off_track_events"] for e in per)),
        "seconds": time.perf_counter() - t0,
        "per_episode": per,
    }


__all__ = [
    "BASE_ID",
    "DASHBOARD_ROWS",
    "ENV_ID",
    "INFO_SIGNALS",
    "MAX_CURVATURE",
    "OUTPUTS",
    "WHEELBASE",
    "CarRacingAdapter",
    "CarRacingConfig",
    "CarRacingExpert",
    "CollectConfig",
    "collect",
    "CarState",
    "EpisodeResult",
    "ExpertConfig",
    "Track",
    "adapter_metadata",
    "build_track",
    "carracing_env_fn",
    "evaluate_expert",
    "dart_outputs",
    "find_adapter",
    "from_carracing_action",
    "make_carracing",
    "nearest_index",
    "run_expert_episode",
    "summarise",
    "to_carracing_action",
]
