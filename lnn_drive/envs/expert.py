"""The privileged expert: a controller that sees the true road geometry and car state.

Two controllers of the right lane's centre line, both returning path curvature (1/m):

- ``stanley``: curvature feed-forward of the lane ahead plus linear feedback on lateral
  offset and heading error, with gains set for a critically-damped-ish response at the
  car's speed (natural frequency ``omega`` rad/s, damping ``zeta``). With the
  feed-forward it has no steady-state offset in bends.
- ``pure_pursuit``: steer onto the circle through the lane-centre point ``lookahead``
  metres ahead (cuts bends slightly: about ``lookahead^2 / (4 R)`` inward).

DART (Laskey et al. 2017): :func:`dart_action` perturbs the executed action with Gaussian
noise while the expert's clean action is recorded as the label, so the logs contain the
small drifts and the corrections back to the lane centre.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from lnn_drive.envs.config import EXPERTS, MAX_CURVATURE, EnvConfig
from lnn_drive.envs.road import Road


@dataclass(frozen=True, kw_only=True)
class LaneExpert:
    """Expert controller of the lane centre.

    Attributes:
        kind: ``"stanley"`` or ``"pure_pursuit"``.
        speed: Car speed (m/s), sets the gains.
        omega, zeta: Closed-loop natural frequency (rad/s) and damping of ``stanley``.
        preview: Time (s) ahead at which ``stanley`` reads the lane curvature; covers the
            actuation lag and the one-step delay of discrete control.
        lookahead: ``pure_pursuit`` look-ahead distance (m).
        lag: The car's actuation lag (s, first-order time constant) the expert knows of:
            ``stanley`` reads the curvature ``max(preview, lag)`` ahead, ``pure_pursuit``
            adds ``lag x speed`` to its look-ahead (docs/simulator.md, "Calibration").
    """

    kind: str = "stanley"
    speed: float = 10.0
    omega: float = 1.6
    zeta: float = 0.9
    preview: float = 0.1
    lookahead: float = 7.0
    lag: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in EXPERTS:
            raise ValueError(f"expert kind must be one of {EXPERTS}, got {self.kind!r}")
        if not self.lag >= 0:
            raise ValueError(f"expert lag must be >= 0 s, got {self.lag}")

    def action(
        self,
        road: Road,
        *,
        x: float,
        y: float,
        yaw: float,
        s: float,
        lateral_offset: float,
        heading_error: float,
    ) -> float:
        """Clean curvature command (1/m), clipped to the action bound."""
        d_lane = road.lane_centre
        if self.kind == "stanley":
            k_road = road.curvature_at(s + max(self.preview, self.lag) * self.speed)
            k_lane = k_road / (1.0 - d_lane * k_road)  # parallel curve at offset d_lane
            k1 = (self.omega / self.speed) ** 2
            k2 = 2 * self.zeta * self.omega / self.speed
            k = (k_lane - k1 * lateral_offset - k2 * math.sin(heading_error)) / max(
                math.cos(heading_error), 0.2
            )
        else:
            tx, ty, _ = road.pose(s + self.lookahead + self.lag * self.speed, d_lane)
            dx, dy = tx - x, ty - y
            ly = -dx * math.sin(yaw) + dy * math.cos(yaw)
            k = 2.0 * ly / (dx * dx + dy * dy)
        return min(max(k, -MAX_CURVATURE), MAX_CURVATURE)


def dart_action(expert_action: float, std: float, rng: np.random.Generator) -> float:
    """DART: the expert's action plus N(0, std^2) noise, clipped to the action bound."""
    if std <= 0:
        return float(expert_action)
    k = expert_action + std * float(rng.standard_normal())
    return min(max(k, -MAX_CURVATURE), MAX_CURVATURE)


def drive_expert(
    env_cfg: EnvConfig | None = None,
    *,
    km: float = 10.0,
    first_seed: int = 1_000_000,
    drive_steps: int | None = None,
    roads: int | None = None,
) -> dict[str, Any]:
    """Drive the clean expert over ``km`` kilometres of roads from fresh seeds
    (``first_seed``, ``first_seed + 1``, ...) in terminate-on-crash mode.

    ``drive_steps`` caps each road at that many control steps (the benchmark's
    ``eval.drive_steps``, so the expert drives exactly the benchmark's test roads);
    ``None``: until the environment ends the episode (``max_episode_steps``). ``roads``
    drives exactly that many roads instead of stopping at ``km``.

    Returns:
        ``{"km", "episodes", "crashes", "departures_1m", "lane_departures",
        "max_abs_offset", "mean_abs_offset", "seeds"}`` (departures: excursions beyond
        1 m and beyond the lane's marking, see ``info["departures_1m"]``).
    """
    from itertools import count

    from lnn_drive.envs.factory import make_env
    from lnn_drive.envs.record import Episode, ExpertRule, record_episodes

    env = make_env(env_cfg, render_mode=None, crash_mode="terminate")
    offsets = {"max": 0.0, "sum": 0.0}
    counts = {"departures_1m": 0, "lane_departures": 0}
    last = {"departures_1m": 0, "lane_departures": 0, "distance": 0.0}

    def track(info: Mapping[str, Any]) -> None:  # the offset each step reaches
        off = abs(float(info["lateral_offset"]))
        offsets["max"] = max(offsets["max"], off)
        offsets["sum"] += off
        new_episode = float(info["distance"]) < last["distance"]
        last["distance"] = float(info["distance"])
        for key in counts:  # the env counts per episode
            c = int(info[key])
            counts[key] += c - (0 if new_episode else last[key])
            last[key] = c

    try:
        stats = record_episodes(
            env,
            None,
            ExpertRule(dart_std=0.0, rng=np.random.default_rng(0)),
            episodes=(
                Episode(seed=first_seed + i, steps=drive_steps)
                for i in (count() if roads is None else range(roads))
            ),
            after_step=track,
            stop=None if roads is not None else (lambda st: st.distance_m >= km * 1000.0),
        )
    finally:
        env.close()
    return {
        "km": stats.distance_m / 1000.0,
        "episodes": stats.episodes,
        "crashes": stats.terminations,
        **counts,
        "max_abs_offset": offsets["max"],
        "mean_abs_offset": offsets["sum"] / max(stats.frames, 1),
        "seeds": (first_seed, first_seed + stats.episodes - 1),
    }
