"""Vehicles on the road as distractors: parked on the right shoulder and oncoming in the
left lane. The car never meets them (they keep to other lanes); they change what the
camera sees. They are rows of an object table (kind :data:`KIND_VEHICLE`) that the
renderer depth-sorts with the roadside objects.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from lnn_drive.envs.config import OBJECT_KINDS
from lnn_drive.envs.road import Road, pose_of
from lnn_drive.envs.scenery import N_OBJ_COLS, OB, OG, OH, OKIND, OR, OS, OSEED, OW, OX, OY

#: Object-table kind of a vehicle (after the roadside kinds).
KIND_VEHICLE = len(OBJECT_KINDS)
#: Body colours (RGB) vehicles are painted in.
PAINT = np.array(
    [
        (200, 200, 205),
        (30, 30, 35),
        (150, 25, 25),
        (30, 60, 140),
        (235, 235, 230),
        (110, 115, 120),
        (40, 90, 50),
        (210, 170, 40),
    ],
    np.float64,
)
#: Vehicles this far behind or ahead of the car (m) are handed to the renderer.
BEHIND, AHEAD = 5.0, 190.0


class Traffic:
    """Parked and oncoming vehicles of one road.

    Args:
        rng: Source of randomness (the environment's ``np_random``).
        road: The road.
        parked_density, oncoming_density: Vehicles per 100 m.
        oncoming_speed: Speed of oncoming vehicles (m/s).
        horizon: Episode duration (s); oncoming vehicles are placed so that they keep
            coming for that long.
        start: Arc length (m) before which no vehicle is placed.
    """

    def __init__(
        self,
        rng: np.random.Generator,
        road: Road,
        *,
        parked_density: float,
        oncoming_density: float,
        oncoming_speed: float,
        horizon: float,
        start: float,
    ) -> None:
        self.road = road
        span = max(road.length - start, 0.0)
        n_park = int(rng.poisson(parked_density * span / 100.0))
        reach = span + oncoming_speed * horizon
        n_onc = int(rng.poisson(oncoming_density * reach / 100.0))
        n = n_park + n_onc
        half = road.lane_width / 2
        s = np.concatenate(
            [rng.uniform(start, road.length, n_park), start + 40.0 + rng.uniform(0, reach, n_onc)]
        )
        d = np.concatenate(
            [
                -(road.lane_width + 0.95) + rng.normal(0, 0.1, n_park),  # half on the shoulder
                half + rng.normal(0, 0.15, n_onc),  # the left lane's centre
            ]
        )
        self.v = np.concatenate([np.zeros(n_park), np.full(n_onc, -oncoming_speed)])
        self.table = np.zeros((n, N_OBJ_COLS))
        self.table[:, OKIND] = KIND_VEHICLE
        self.table[:, OW] = rng.uniform(1.7, 2.0, n)
        self.table[:, OH] = rng.uniform(1.4, 1.8, n)
        paint = PAINT[rng.integers(len(PAINT), size=n)] * rng.uniform(0.9, 1.1, (n, 1))
        self.table[:, [OR, OG, OB]] = np.clip(paint, 0, 255)
        self.table[:, OSEED] = rng.integers(1 << 30, size=n)
        self.d = d
        self.table[:, OS] = s
        self._moving = np.flatnonzero(self.v != 0)
        self._place()

    def __len__(self) -> int:
        return len(self.table)

    def _place(self) -> None:
        x, y = self.road.points(self.table[:, OS], self.d)
        self.table[:, OX] = x
        self.table[:, OY] = y

    def step(self, dt: float) -> None:
        """Move the oncoming vehicles ``dt`` seconds on."""
        if len(self._moving):
            r = self.road
            _advance(self.table, self._moving, self.v, self.d, dt, r.x, r.y, r.heading, r.curvature)

    def near(self, s: float) -> np.ndarray:
        """Rows (K, N_OBJ_COLS) of the vehicles the camera at arc length ``s`` may see."""
        vs = self.table[:, OS]
        return self.table[(vs > s - BEHIND) & (vs < min(s + AHEAD, self.road.length))]


@njit(cache=True)
def _advance(table, rows, v, d, dt, xs, ys, hs, ks):  # pragma: no cover - numba
    """Move the vehicles ``rows`` along the road by ``v * dt`` and update their position."""
    for i in rows:
        table[i, OS] += v[i] * dt
        x, y, _ = pose_of(xs, ys, hs, ks, table[i, OS], d[i])
        table[i, OX] = x
        table[i, OY] = y
