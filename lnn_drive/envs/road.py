"""Road geometry: a seeded centreline with bounded curvature and the projection of a
point onto it.

Coordinates: world x, y in metres on a flat ground plane; heading counter-clockwise from +x.
A point near the road has arc length ``s`` along the centreline and a signed lateral
coordinate ``d`` (positive = left of the centreline). Two lanes of ``lane_width``; the car
drives in the right lane, whose centre is at ``d = -lane_width / 2``.

The objects beside the road live in :mod:`lnn_drive.envs.scenery`, the streamed ground
texture the renderer samples in :mod:`lnn_drive.envs.ground`.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
from numba import njit

#: Spacing of centreline samples (m).
DS = 0.5
#: Length (m) over which curvature ramps linearly into and out of a bend (clothoid).
RAMP = 15.0
#: The road's heading stays within this angle (rad) of its initial heading, so that a road
#: never folds back onto itself.
HEADING_BOUND = math.radians(70.0)


@dataclass(frozen=True, eq=False)
class Road:  # noqa: B903
    """A centreline sampled every :data:`DS` metres.

    Attributes:
        x, y: (N,) sample positions (m).
        heading: (N,) tangent direction (rad).
        curvature: (N,) signed curvature (1/m), positive turning left.
        lane_width: Lane width (m); the road is two lanes wide.
        shoulder_width: Paved shoulder width (m).
    """

    x: np.ndarray
    y: np.ndarray
    heading: np.ndarray
    curvature: np.ndarray
    lane_width: float
    shoulder_width: float

    @property
    def length(self) -> float:
        return (len(self.x) - 1) * DS

    @property
    def lane_centre(self) -> float:
        """Lateral coordinate ``d`` of the right lane's centre."""
        return -self.lane_width / 2

    def pose(self, s: float, d: float = 0.0) -> tuple[float, float, float]:
        """World ``(x, y, heading)`` of the point at arc length ``s`` and offset ``d``."""
        return pose_of(self.x, self.y, self.heading, self.curvature, s, d)

    def points(self, s: np.ndarray, d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """World positions ``(x, y)`` of many points at arc lengths ``s`` (clamped to the
        road's samples) and lateral offsets ``d``, each (K,)."""
        i = np.clip(np.round(s / DS).astype(np.int64), 0, len(self.x) - 1)
        a = s - i * DS
        hd = self.heading[i] + self.curvature[i] * a
        x = self.x[i] + a * np.cos(self.heading[i]) - d * np.sin(hd)
        y = self.y[i] + a * np.sin(self.heading[i]) + d * np.cos(hd)
        return x, y

    def curvature_at(self, s: float) -> float:
        """Centreline curvature (1/m) at arc length ``s`` (clamped to the road)."""
        k = self._curvature_list
        i = int(s / DS + 0.5) if s > 0 else 0
        return k[i] if i < len(k) else k[-1]

    @functools.cached_property
    def _curvature_list(self) -> list[float]:
        return self.curvature.tolist()


def generate_road(
    rng: np.random.Generator,
    *,
    length: float,
    max_curvature: float,
    lane_width: float = 3.5,
    shoulder_width: float = 1.0,
    straight_start: float = 30.0,
) -> Road:
    """Generate a road: straights, gentle and sharp bends and S-curves joined by clothoid
    ramps, with ``|curvature| <= max_curvature`` everywhere.

    Args:
        rng: Source of randomness (the environment's ``np_random``).
        length: Road length (m).
        max_curvature: Curvature bound (1/m).
        lane_width, shoulder_width: Cross-section (m).
        straight_start: Length (m) of the straight the road begins with.
    """
    n = int(math.ceil(length / DS)) + 1
    kappa: list[np.ndarray] = [np.zeros(int(straight_start / DS))]
    total = len(kappa[0])
    heading = 0.0  # relative to the initial heading
    nr = int(RAMP / DS)
    kmax = float(max_curvature)

    def bend(k: float, angle: float) -> np.ndarray:
        """Curvature profile turning by ``angle`` (signed) with peak curvature |k|."""
        sign = 1.0 if angle >= 0 else -1.0
        angle = abs(angle)
        if angle < 1e-6:
            return np.zeros(0)
        hold = angle / k - RAMP  # ramps contribute k * RAMP of heading change together
        if hold < 0:
            hold, k = 0.0, angle / RAMP
        nh = int(round(hold / DS))
        ramp = np.linspace(0.0, k, nr + 1)[1:]
        return sign * np.concatenate([ramp, np.full(nh, k), ramp[::-1]])

    def turn(k: float, angle: float, sign: float | None = None) -> np.ndarray:
        """A bend by ``angle`` (> 0), direction ``sign`` (random or back towards the
        initial heading when unset), shortened so that the heading stays bounded."""
        nonlocal heading
        if sign is None:
            if abs(heading) > 0.3 * HEADING_BOUND:
                sign = -math.copysign(1.0, heading)
            else:
                sign = 1.0 if rng.random() < 0.5 else -1.0
        room = max(HEADING_BOUND - sign * heading, 0.0)
        seg = bend(k, sign * min(angle, room))
        heading += float(seg.sum() * DS)
        return seg

    while total < n:
        r = rng.random()
        if kmax <= 0 or r < 0.25:
            seg = np.zeros(int(rng.uniform(20, 90) / DS))
        elif r < 0.55:  # gentle bend
            seg = turn(rng.uniform(0.15, 0.5) * kmax, math.radians(rng.uniform(20, 90)))
        elif r < 0.8:  # sharp bend
            seg = turn(rng.uniform(0.6, 1.0) * kmax, math.radians(rng.uniform(40, 120)))
        else:  # S-curve: two opposite bends back to back
            k = rng.uniform(0.4, 1.0) * kmax
            first = turn(k, math.radians(rng.uniform(25, 70)))
            back = -1.0 if first.sum() > 0 else 1.0
            seg = np.concatenate([first, turn(k, math.radians(rng.uniform(25, 70)), back)])
        if len(seg) == 0:
            seg = np.zeros(20)
        kappa.append(seg)
        total += len(seg)
    k = np.concatenate(kappa)[:n].astype(np.float64)
    h0 = rng.uniform(-math.pi, math.pi)
    psi = h0 + np.concatenate([[0.0], np.cumsum(k[:-1]) * DS])
    mid = psi + 0.5 * k * DS  # exact for arcs: chord direction
    chord = np.where(np.abs(k) > 1e-9, 2 * np.sin(0.5 * k * DS) / np.where(k == 0, 1, k), DS)
    x = np.concatenate([[0.0], np.cumsum(chord[:-1] * np.cos(mid[:-1]))])
    y = np.concatenate([[0.0], np.cumsum(chord[:-1] * np.sin(mid[:-1]))])
    return Road(
        x=x, y=y, heading=psi, curvature=k, lane_width=lane_width, shoulder_width=shoulder_width
    )


@njit(cache=True)
def pose_of(xs, ys, hs, ks, s, d):  # pragma: no cover - numba
    """World ``(x, y, heading)`` at arc length ``s`` and offset ``d`` of the centreline
    samples ``xs, ys, hs, ks`` (see :meth:`Road.pose`)."""
    n = xs.shape[0]
    i = int(math.floor(s / DS + 0.5))
    i = min(max(i, 0), n - 1)
    a = s - i * DS
    h = hs[i] + ks[i] * a
    hm = hs[i] + 0.5 * ks[i] * a
    x = xs[i] + a * math.cos(hm) - d * math.sin(h)
    y = ys[i] + a * math.sin(hm) + d * math.cos(h)
    return x, y, h


@njit(cache=True)
def project(xs, ys, hs, ks, x, y, hint, window):  # pragma: no cover - numba
    """Nearest centreline point to (x, y), searching ``hint +- window`` samples.

    Returns:
        (index, s, d, road heading at s, curvature at the index).
    """
    n = xs.shape[0]
    lo = max(hint - window, 0)
    hi = min(hint + window + 1, n)
    best = lo
    bd = 1e300
    for i in range(lo, hi):
        dx = x - xs[i]
        dy = y - ys[i]
        q = dx * dx + dy * dy
        if q < bd:
            bd = q
            best = i
    dx = x - xs[best]
    dy = y - ys[best]
    c = math.cos(hs[best])
    sn = math.sin(hs[best])
    along = dx * c + dy * sn
    lat = -dx * sn + dy * c
    k = ks[best]
    # the centreline bends away from its tangent by k * along^2 / 2
    lat -= 0.5 * k * along * along
    return best, best * DS + along, lat, hs[best] + k * along, k
