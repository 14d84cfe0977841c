"""Configuration of the lane-keeping simulator: :class:`EnvConfig` and the appearance presets.

Units: metres, seconds, radians unless a field name says ``_deg``; curvature in 1/m,
positive turning left.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

#: Bound of the action (path curvature, 1/m): a 10 m turning radius.
MAX_CURVATURE = 0.1

#: Largest camera image (height, width) in pixels: beyond it the streamed ground texture
#: and the frame buffers would take gigabytes.
MAX_RESOLUTION = (1080, 1920)

#: Semantic classes of :meth:`LaneKeepingEnv.render_labels`.
LABEL_CLASSES: dict[int, str] = {0: "sky", 1: "ground", 2: "road", 3: "marking", 4: "object"}

#: Roadside object kinds (column ``kind`` of the object table).
OBJECT_KINDS = ("tree", "conifer", "bush", "pole", "building")

RGB = tuple[int, int, int]


@dataclass(frozen=True, kw_only=True)
class Appearance:
    """Colours and lighting of one appearance preset (RGB 0-255 before ``light``).

    Attributes:
        sky_top, sky_horizon: Sky gradient from the top of the image to the horizon.
        hills: Colour of the distant hill silhouette on the horizon.
        ground, ground_var: Ground colour and the amplitude of its blotchy variation.
        speckle, speckle_prob: Coloured speckles on the ground (fallen leaves, flowers).
        shoulder, road, marking: Paved shoulder, asphalt and lane-marking colours.
        road_var: Amplitude of the fine asphalt/ground grain.
        crowns: Palette of deciduous tree crowns; ``crown_sparse`` is the fraction of
            crown pixels left out (bare winter branches).
        conifer, bush, trunk, pole, walls, roof, window: Object colours.
        windows_lit: Windows glow (dusk).
        light: Global brightness multiplier.
        fog_color, fog_distance: Colours blend to ``fog_color`` as ``1 - exp(-d /
            fog_distance)`` with distance d (m); large distances give a faint horizon haze.
        shadow: Darkening of cast shadows in [0, 1] (0 = no shadows).
        sun_elevation_deg: Sun elevation; shadow length = height / tan(elevation).
        kinds: Relative frequency of each object kind (order of ``OBJECT_KINDS``).
    """

    sky_top: RGB
    sky_horizon: RGB
    hills: RGB
    ground: RGB
    ground_var: float
    speckle: tuple[RGB, ...] = ()
    speckle_prob: float = 0.0
    shoulder: RGB
    road: RGB
    road_var: float = 6.0
    marking: RGB
    crowns: tuple[RGB, ...]
    crown_sparse: float = 0.0
    conifer: RGB
    bush: tuple[RGB, ...]
    trunk: RGB = (90, 65, 45)
    pole: RGB = (150, 150, 145)
    walls: tuple[RGB, ...] = ((190, 170, 150), (160, 110, 90), (200, 200, 190), (130, 130, 140))
    roof: RGB = (110, 60, 50)
    window: RGB = (60, 75, 95)
    windows_lit: bool = False
    light: float = 1.0
    fog_color: RGB
    fog_distance: float = 600.0
    shadow: float = 0.5
    sun_elevation_deg: float = 35.0
    kinds: tuple[float, float, float, float, float] = (4.0, 2.0, 4.0, 1.5, 1.0)


PRESET_TABLE: dict[str, Appearance] = {
    "summer": Appearance(
        sky_top=(70, 130, 215),
        sky_horizon=(185, 210, 235),
        hills=(105, 135, 120),
        ground=(85, 135, 55),
        ground_var=22.0,
        speckle=((200, 200, 90), (230, 230, 230)),
        speckle_prob=0.01,
        shoulder=(125, 120, 110),
        road=(82, 82, 86),
        marking=(235, 235, 230),
        crowns=((50, 110, 40), (70, 125, 45), (40, 95, 50)),
        conifer=(35, 80, 45),
        bush=((60, 120, 45), (45, 100, 40)),
        fog_color=(195, 215, 235),
        shadow=0.5,
        sun_elevation_deg=35.0,
    ),
    "autumn": Appearance(
        sky_top=(110, 150, 200),
        sky_horizon=(210, 210, 205),
        hills=(130, 115, 85),
        ground=(125, 115, 60),
        ground_var=26.0,
        speckle=((200, 90, 30), (220, 160, 40), (160, 50, 30)),
        speckle_prob=0.08,
        shoulder=(130, 115, 95),
        road=(88, 86, 86),
        marking=(230, 228, 215),
        crowns=((210, 110, 30), (190, 60, 30), (225, 170, 40), (150, 80, 40)),
        crown_sparse=0.12,
        conifer=(40, 80, 45),
        bush=((170, 90, 40), (140, 110, 50)),
        fog_color=(215, 210, 200),
        shadow=0.45,
        sun_elevation_deg=28.0,
    ),
    "winter": Appearance(
        sky_top=(165, 180, 200),
        sky_horizon=(225, 228, 232),
        hills=(200, 205, 215),
        ground=(228, 232, 240),
        ground_var=10.0,
        speckle=((170, 175, 185),),
        speckle_prob=0.01,
        shoulder=(200, 200, 205),
        road=(105, 105, 110),
        road_var=9.0,
        marking=(185, 185, 188),
        crowns=((95, 80, 70), (110, 95, 85)),
        crown_sparse=0.55,
        conifer=(45, 75, 60),
        bush=((150, 150, 145), (120, 110, 100)),
        trunk=(70, 55, 45),
        fog_color=(225, 228, 235),
        fog_distance=300.0,
        shadow=0.25,
        sun_elevation_deg=18.0,
        kinds=(3.0, 4.0, 2.0, 1.5, 1.0),
    ),
    "dusk": Appearance(
        sky_top=(40, 45, 95),
        sky_horizon=(235, 130, 70),
        hills=(60, 50, 70),
        ground=(75, 110, 55),
        ground_var=18.0,
        shoulder=(115, 110, 105),
        road=(80, 80, 85),
        marking=(225, 220, 200),
        crowns=((50, 100, 40), (65, 110, 45)),
        conifer=(35, 75, 45),
        bush=((55, 105, 45),),
        window=(255, 210, 110),
        windows_lit=True,
        light=0.5,
        fog_color=(150, 100, 90),
        fog_distance=400.0,
        shadow=0.3,
        sun_elevation_deg=12.0,
    ),
    "fog": Appearance(
        sky_top=(175, 178, 182),
        sky_horizon=(195, 197, 200),
        hills=(190, 192, 196),
        ground=(95, 125, 75),
        ground_var=16.0,
        shoulder=(125, 122, 118),
        road=(88, 88, 92),
        marking=(225, 225, 222),
        crowns=((60, 100, 55), (70, 110, 60)),
        conifer=(45, 80, 55),
        bush=((65, 105, 55),),
        fog_color=(195, 197, 200),
        fog_distance=28.0,
        shadow=0.0,
        sun_elevation_deg=40.0,
    ),
}

#: Names of the appearance presets.
PRESETS: tuple[str, ...] = tuple(PRESET_TABLE)

CRASH_MODES = ("terminate", "intervene")
EXPERTS = ("stanley", "pure_pursuit")


def appearance(preset: str) -> Appearance:
    """The :class:`Appearance` of a preset; unknown names raise ``ValueError`` listing the valid ones."""
    try:
        return PRESET_TABLE[preset]
    except KeyError:
        raise ValueError(
            f"unknown env preset {preset!r}; valid presets: {', '.join(PRESETS)}"
        ) from None


@dataclass(frozen=True, kw_only=True)
class EnvConfig:
    """Settings of :class:`~lnn_drive.envs.lane_keeping.LaneKeepingEnv`, validated on construction
    (a bad value raises ``ValueError`` naming the field).

    Attributes:
        preset: Appearance preset, one of :data:`PRESETS`.
        speed: Constant forward speed (m/s).
        fps: Control and camera rate (Hz); one step lasts ``1 / fps`` s.
        height, width: Camera image size (pixels, at most :data:`MAX_RESOLUTION`).
        fov_deg: Horizontal field of view (degrees, in (10, 150)).
        cam_height: Camera height above the road (m).
        pitch_deg: Downward camera pitch (degrees, in [-20, 45]).
        crash_mode: ``"terminate"`` ends the episode when the car leaves its lane;
            ``"intervene"`` counts an intervention, puts the car back on the lane centre and
            continues.
        max_episode_steps: Time limit applied by registration / :func:`make_env`.
        lane_width: Width of each of the two lanes (m); the car drives in the right lane.
        shoulder_width: Paved shoulder beyond each road edge (m).
        crash_margin: The car has left its lane when ``|lateral_offset| > lane_width / 2 +
            crash_margin`` (m).
        max_road_curvature: Largest centreline curvature the road generator uses (1/m); at
            most 0.6 x the action bound so that the car can always follow and correct.
        actuation_lag: Time constant (s) of a first-order lag between commanded and
            executed curvature; 0 = none.
        steer_noise_std: Standard deviation (1/m) of Gaussian noise added to the executed
            curvature every step; 0 = none.
        object_density: Roadside objects per 100 m of road (both sides together).
        view_distance: Ground drawn up to this distance (m); beyond it the horizon.
        start_s: Default arc length (m) along the road where episodes start.
        road_length: Length of generated roads (m); ``None`` = enough for
            ``max_episode_steps`` at ``speed`` plus the view distance.
        expert: Privileged expert giving ``info["expert_action"]``: ``"stanley"``
            (curvature feed-forward plus lateral/heading feedback) or ``"pure_pursuit"``.
        speed_max: ``None``: constant ``speed``; else each episode's speed is drawn
            uniformly from ``[speed, speed_max]`` m/s.
        marking_fade: Fraction of each road's length (in [0, 0.9]) whose lane markings are
            faded or missing, in stretches of 30-120 m.
        marking_missing: Share of those stretches where the markings are missing
            altogether (the others keep 15-50 % of their contrast).
        pitch_jitter_deg, roll_jitter_deg: Standard deviation (degrees) of the camera's
            pitch and roll jitter (a first-order autoregressive process, correlation
            ``jitter_corr`` per step); the frame is warped by the rotation's homography.
        jitter_corr: Step-to-step correlation of the jitter in [0, 1).
        frame_repeat_prob: Probability per step that the camera delivers the previous
            frame again (``info["frame_status"] == 1``).
        frame_drop_prob: Probability per step that the frame is lost and the observation is
            black (``info["frame_status"] == 2``).
        frame_outage_frames: Longest repeat or drop event, in frames: each event lasts a
            length drawn uniformly from 1 to this (1: single frames). A camera that freezes or
            goes dark for several frames is what a policy without memory cannot bridge.
        parked_density: Parked vehicles per 100 m on the right shoulder.
        oncoming_density: Oncoming vehicles per 100 m in the left lane.
        oncoming_speed: Speed (m/s) of oncoming vehicles.
        expert_compensation: The expert knows ``actuation_lag`` (reads the road further
            ahead and leads the lag); off by default so that older configs keep their labels.
        strict_departure: ``info["departures_1m"]`` counts the times ``|lateral_offset|``
            exceeded this (m; the stricter failure notion, 1 m by default).
    """

    preset: str = "summer"
    speed: float = 10.0
    fps: float = 30.0
    height: int = 78
    width: int = 200
    fov_deg: float = 70.0
    cam_height: float = 1.4
    pitch_deg: float = 4.0
    crash_mode: str = "terminate"
    max_episode_steps: int = 1000
    lane_width: float = 3.5
    shoulder_width: float = 1.0
    crash_margin: float = 0.25
    max_road_curvature: float = 0.04
    actuation_lag: float = 0.0
    steer_noise_std: float = 0.0
    object_density: float = 14.0
    view_distance: float = 200.0
    start_s: float = 10.0
    road_length: float | None = None
    expert: str = "stanley"
    speed_max: float | None = None
    marking_fade: float = 0.0
    marking_missing: float = 0.5
    pitch_jitter_deg: float = 0.0
    roll_jitter_deg: float = 0.0
    jitter_corr: float = 0.9
    frame_repeat_prob: float = 0.0
    frame_drop_prob: float = 0.0
    frame_outage_frames: int = 1
    parked_density: float = 0.0
    oncoming_density: float = 0.0
    oncoming_speed: float = 15.0
    expert_compensation: bool = False
    strict_departure: float = 1.0

    def __post_init__(self) -> None:
        appearance(self.preset)

        def check(name: str, ok: bool, want: str) -> None:
            if not ok:
                raise ValueError(f"env.{name} must be {want}, got {getattr(self, name)!r}")

        def num(name: str) -> float:
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
                raise ValueError(f"env.{name} must be a finite number, got {v!r}")
            return float(v)

        for name in ("height", "width", "max_episode_steps"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
                raise ValueError(f"env.{name} must be a positive integer, got {v!r}")
        check(
            "height", 8 <= self.height <= MAX_RESOLUTION[0], f"in [8, {MAX_RESOLUTION[0]}] pixels"
        )
        check("width", 8 <= self.width <= MAX_RESOLUTION[1], f"in [8, {MAX_RESOLUTION[1]}] pixels")
        check("speed", 0 < num("speed") <= 40, "in (0, 40] m/s")
        check("fps", 1 <= num("fps") <= 1000, "in [1, 1000] Hz")
        check("fov_deg", 10 < num("fov_deg") < 150, "in (10, 150) degrees")
        check("cam_height", 0.3 <= num("cam_height") <= 10, "in [0.3, 10] m")
        check("pitch_deg", -20 <= num("pitch_deg") <= 45, "in [-20, 45] degrees")
        check("crash_mode", self.crash_mode in CRASH_MODES, f"one of {CRASH_MODES}")
        check("lane_width", 2.0 <= num("lane_width") <= 6.0, "in [2, 6] m")
        check("shoulder_width", 0 <= num("shoulder_width") <= 5.0, "in [0, 5] m")
        check("crash_margin", 0 <= num("crash_margin") <= 2.0, "in [0, 2] m")
        check(
            "max_road_curvature",
            0 <= num("max_road_curvature") <= 0.6 * MAX_CURVATURE,
            f"in [0, {0.6 * MAX_CURVATURE}] 1/m (0.6 x the action bound)",
        )
        check("actuation_lag", 0 <= num("actuation_lag") <= 2.0, "in [0, 2] s")
        check("steer_noise_std", 0 <= num("steer_noise_std") <= 0.1, "in [0, 0.1] 1/m")
        check("object_density", 0 <= num("object_density") <= 100, "in [0, 100] per 100 m")
        check("view_distance", 20 <= num("view_distance") <= 1000, "in [20, 1000] m")
        check("start_s", 0 <= num("start_s") <= 1000, "in [0, 1000] m")
        if self.road_length is not None:
            check("road_length", 50 <= num("road_length") <= 100_000, "None or in [50, 100000] m")
        check("expert", self.expert in EXPERTS, f"one of {EXPERTS}")
        if self.speed_max is not None:
            check(
                "speed_max",
                num("speed") <= num("speed_max") <= 40,
                f"None or in [speed, 40] m/s (speed is {self.speed})",
            )
        check("marking_fade", 0 <= num("marking_fade") <= 0.9, "in [0, 0.9]")
        check("marking_missing", 0 <= num("marking_missing") <= 1, "in [0, 1]")
        check("pitch_jitter_deg", 0 <= num("pitch_jitter_deg") <= 5, "in [0, 5] degrees")
        check("roll_jitter_deg", 0 <= num("roll_jitter_deg") <= 10, "in [0, 10] degrees")
        check("jitter_corr", 0 <= num("jitter_corr") < 1, "in [0, 1)")
        check("frame_repeat_prob", 0 <= num("frame_repeat_prob") <= 0.5, "in [0, 0.5]")
        check("frame_drop_prob", 0 <= num("frame_drop_prob") <= 0.5, "in [0, 0.5]")
        check(
            "frame_outage_frames",
            isinstance(self.frame_outage_frames, int)
            and not isinstance(self.frame_outage_frames, bool)
            and 1 <= self.frame_outage_frames <= 60,
            "an integer in [1, 60] frames",
        )
        check("parked_density", 0 <= num("parked_density") <= 20, "in [0, 20] per 100 m")
        check("oncoming_density", 0 <= num("oncoming_density") <= 20, "in [0, 20] per 100 m")
        check("oncoming_speed", 0 <= num("oncoming_speed") <= 40, "in [0, 40] m/s")
        check("expert_compensation", isinstance(self.expert_compensation, bool), "true or false")
        check("strict_departure", 0 < num("strict_departure") <= 5, "in (0, 5] m")

    @property
    def top_speed(self) -> float:
        """The fastest speed an episode can have (m/s)."""
        return self.speed if self.speed_max is None else self.speed_max

    @property
    def dt(self) -> float:
        return 1.0 / self.fps

    @property
    def crash_threshold(self) -> float:
        """``|lateral_offset|`` (m) beyond which the car has left its lane."""
        return self.lane_width / 2 + self.crash_margin

    @property
    def appearance(self) -> Appearance:
        return appearance(self.preset)

    @classmethod
    def from_profile(cls, profile: str = "easy", **overrides: Any) -> EnvConfig:
        """The fields of a task profile (:data:`PROFILES`) plus overrides."""
        if profile not in PROFILES:
            raise ValueError(f"unknown env profile {profile!r}; valid profiles: {list(PROFILES)}")
        return cls.from_mapping(PROFILES[profile], **overrides)

    @classmethod
    def from_mapping(cls, cfg: Mapping[str, Any] | None = None, **overrides: Any) -> EnvConfig:
        """Build from a mapping (e.g. the ``env`` Hydra group) plus overrides. Keys that are
        not fields raise ``ValueError`` naming them, except ``id`` (the registered id)."""
        d = {k: v for k, v in dict(cfg or {}).items() if k not in ("id", "_target_")}
        d.update(overrides)
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"unknown env option(s) {unknown}; valid options: {sorted(names)}")
        return cls(**d)


#: Task profiles: the fields each one changes from the :class:`EnvConfig` defaults.
#: ``easy`` is today's task; ``hard`` discriminates between models (docs/simulator.md,
#: "The hard profile"): actuation lag and steering noise, 15-20 m/s, sharper bends, faded
#: or missing markings, camera jitter, repeated and dropped frames, parked and oncoming
#: vehicles. ``conf/env/lane_keeping_hard.yaml`` says the same (a test checks it).
PROFILES: dict[str, dict[str, Any]] = {
    "easy": {},
    "hard": {
        "speed": 15.0,
        "speed_max": 20.0,
        "actuation_lag": 0.2,
        "steer_noise_std": 0.003,
        "max_road_curvature": 0.05,
        "marking_fade": 0.3,
        "marking_missing": 0.5,
        "pitch_jitter_deg": 0.7,
        "roll_jitter_deg": 1.5,
        "frame_repeat_prob": 0.03,
        "frame_drop_prob": 0.02,
        "parked_density": 1.5,
        "oncoming_density": 1.0,
        "oncoming_speed": 15.0,
        "expert_compensation": True,
    },
}

__all__ = [
    "CRASH_MODES",
    "EXPERTS",
    "LABEL_CLASSES",
    "MAX_CURVATURE",
    "OBJECT_KINDS",
    "PRESETS",
    "PROFILES",
    "Appearance",
    "EnvConfig",
    "appearance",
    "PRESET_TABLE",
]
