"""A control-barrier-function safety filter for the drone's flight commands.

:class:`DroneSafetyFilter` wraps any batched flight policy (``act_batch(frames) -> (B, 4)``
body-frame ``vx, vy, vz`` in m/s and yaw rate in rad/s) and changes its commands only when
it must, so that

- the commands stay within hard bounds (``|vx|, |vy| <= max_speed``, ``|vz| <= max_climb``,
  ``|omega_z| <= max_yaw_rate``) and change by at most ``max_accel`` (m/s^2) and
  ``max_yaw_accel`` (rad/s^2) per second: the "never ask for more than the robot has" case;
- the drone keeps ``margin`` metres of clearance from every tree or bush taller than it
  (the obstacle's disc grown by the drone's radius), stays inside a geofence disc of
  radius ``geofence_radius`` around its start, and above ``min_altitude + margin_z``.

**The barriers.** With world position ``p``, executed body velocity ``v`` (the env's
first-order response: ``dv/dt = (u - v) / tau``), yaw ``psi`` and executed yaw rate
``omega``, the world velocity is ``w = R(psi) v_xy + wind``. For an obstacle at ``o`` with
grown radius ``r``, ``h = |p - o|^2 - r^2`` has relative degree 2 in the command ``u``, so
the filter enforces the second-order (exponential) CBF condition

    h'' + (a1 + a2) h' + a1 a2 h >= 0,   h' = 2 (p - o) . w,
    h'' = 2 |w|^2 + 2 omega (p - o) . J w + (2 / tau) (p - o) . R (u_xy - v_xy),

which is linear in ``u_xy``: ``A u_xy >= b``. The geofence is the same with the sign
flipped (``h = R_f^2 - |p - c|^2``), the floor ``h = z - z_min`` a bound on ``u_z``.
Forward invariance follows as for the car's filter (``docs/safety.md``): with ``h >= 0``
and ``h' + a1 h >= 0`` at the start, the condition keeps both non-negative (the
continuous-time argument; the 30 Hz discretisation and the yaw change within a step are
covered by the margins, not proved).

**Solved in closed form**: the horizontal part is the 2-D quadratic program
``min |u - u_nominal|^2`` subject to the barrier half-planes and the box of bounds and rate
limits; its optimum is the nominal command, the projection onto one constraint line, or
the intersection of two (a vertex), so the filter enumerates those candidates and keeps
the feasible one nearest the nominal command (exact; no QP library). When no candidate is
feasible (the state is already inside a margin, or the bounds cannot stop the drone in
time), the one with the smallest worst violation is taken and the step is counted as
infeasible. ``vz`` and the yaw rate are clamped to their intervals.

The state is privileged (the simulator's ``info``: ``x``, ``y``, ``yaw``, ``altitude``,
``velocity``, ``wind`` and ``obstacles``), an upper bound on what an onboard estimate
would give; what it does not guarantee is stated in ``docs/safety.md``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True, kw_only=True)
class DroneCBFConfig:
    """Options of :class:`DroneSafetyFilter`.

    Attributes:
        max_speed, max_climb, max_yaw_rate: Hard bounds of the commands (m/s, m/s, rad/s);
            ``None``: the environment's action bounds.
        max_accel: Largest change of ``vx, vy, vz`` commands per second (m/s^2).
        max_yaw_accel: Largest change of the yaw-rate command per second (rad/s^2).
        margin: Clearance (m) kept from every obstacle's grown disc.
        geofence_radius: Radius (m) of the allowed disc around the start (0: no geofence).
        margin_z: Clearance (m) kept above ``min_altitude``.
        a1, a2: Class-K gains (1/s) of the second-order barrier condition.
        neighbours: Obstacles considered per step (the nearest ones).
    """

    max_speed: float | None = None
    max_climb: float | None = None
    max_yaw_rate: float | None = None
    max_accel: float = 12.0
    max_yaw_accel: float = 6.0
    margin: float = 0.3
    geofence_radius: float = 40.0
    margin_z: float = 0.3
    a1: float = 2.0
    a2: float = 4.0
    neighbours: int = 8

    def __post_init__(self) -> None:
        for name in ("max_speed", "max_climb", "max_yaw_rate"):
            v = getattr(self, name)
            if v is not None and not (math.isfinite(v) and v > 0):
                raise ValueError(f"DroneCBFConfig.{name} must be positive or None, got {v}")
        for name in ("max_accel", "max_yaw_accel", "a1", "a2"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v > 0):
                raise ValueError(f"DroneCBFConfig.{name} must be positive, got {v}")
        for name in ("margin", "geofence_radius", "margin_z"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v >= 0):
                raise ValueError(f"DroneCBFConfig.{name} must be >= 0, got {v}")
        if self.neighbours < 1:
            raise ValueError(f"DroneCBFConfig.neighbours must be >= 1, got {self.neighbours}")


def solve_2d(u0: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, bool]:
    """``argmin |u - u0|^2`` subject to ``a @ u >= b`` in 2-D, in closed form.

    Args:
        u0: (2,) nominal command.
        a: (m, 2) constraint normals.
        b: (m,) right-hand sides.

    Returns:
        ``(u, feasible)``: the optimum, or, when the constraints admit no point, the
        candidate with the smallest worst violation and ``False``.
    """
    u0 = np.asarray(u0, np.float64)
    if len(a) == 0:
        return u0.copy(), True
    norm2 = np.einsum("ij,ij->i", a, a)
    ok = norm2 > 1e-18
    a, b, norm2 = a[ok], b[ok], norm2[ok]
    cands = [u0]
    slack = a @ u0 - b
    for i in np.flatnonzero(slack < 0):
        cands.append(u0 - (slack[i] / norm2[i]) * a[i])  # onto line i
    for i, j in itertools.combinations(range(len(a)), 2):
        det = a[i, 0] * a[j, 1] - a[i, 1] * a[j, 0]
        if abs(det) > 1e-12:  # the vertex of lines i and j
            cands.append(
                np.array(
                    [
                        (b[i] * a[j, 1] - a[i, 1] * b[j]) / det,
                        (a[i, 0] * b[j] - b[i] * a[j, 0]) / det,
                    ]
                )
            )
    c = np.stack(cands)
    worst = np.min(c @ a.T - b, axis=1)  # >= 0 where feasible
    tol = 1e-9 * (1.0 + np.abs(b).max())
    feasible = worst >= -tol
    dist = np.einsum("ij,ij->i", c - u0, c - u0)
    if feasible.any():
        k = int(np.argmin(np.where(feasible, dist, np.inf)))
        return c[k], True
    return c[int(np.argmax(worst))], False


class DroneSafetyFilter:
    """The barrier filter around a batched flight policy (see the module docstring).

    The closed loop calls :meth:`observe` with each row's ``info`` after every reset and
    step (``lnn_drive.eval.drone`` does), then :meth:`act_batch` with the frames.

    Args:
        policy: ``reset(batch_size)``, ``reset_rows(mask)``, ``act_batch(frames) -> (B, 4)``.
        env_cfg: The drone environment's :class:`~lnn_drive.envs.drone_config.DroneConfig`
            (bounds, time constant, rate, drone radius, altitude floor).
        cfg: The filter's options.

    Attributes:
        steps, changed, infeasible: Commands filtered, changed (by more than 1e-6) and
            decided without a feasible candidate, since construction.
    """

    def __init__(self, policy: Any, env_cfg: Any, cfg: DroneCBFConfig | None = None) -> None:
        self.policy = policy
        self.cfg = cfg or DroneCBFConfig()
        high = np.asarray(env_cfg.action_high, np.float64)
        c = self.cfg
        self.high = np.array(
            [
                c.max_speed or high[0],
                c.max_speed or high[1],
                c.max_climb or high[2],
                c.max_yaw_rate or high[3],
            ]
        )
        self.high = np.minimum(self.high, high)
        self.tau = max(float(env_cfg.time_constant), 1e-3)
        self.dt = 1.0 / float(env_cfg.fps)
        self.grow = float(env_cfg.drone_radius) + c.margin
        self.z_min = float(env_cfg.min_altitude) + c.margin_z
        self.delta = self.dt * np.array([c.max_accel] * 3 + [c.max_yaw_accel])
        self.steps = self.changed = self.infeasible = 0
        self._state: list[Mapping[str, Any] | None] = []
        self._prev: np.ndarray | None = None

    @property
    def name(self) -> str:
        return f"{getattr(self.policy, 'name', type(self.policy).__name__)}+cbf"

    @property
    def changed_fraction(self) -> float:
        return self.changed / max(self.steps, 1)

    def reset(self, batch_size: int = 1) -> None:
        self.policy.reset(batch_size)
        self._state = [None] * batch_size
        self._prev = None

    def reset_rows(self, mask: np.ndarray) -> None:
        self.policy.reset_rows(mask)
        for i in np.flatnonzero(mask):
            self._state[i] = None
            if self._prev is not None:
                self._prev[i] = 0.0

    def observe(self, info: Mapping[str, Any], row: int = 0) -> None:
        """Take row ``row``'s state from the simulator's ``info`` (privileged)."""
        if row >= len(self._state):
            self._state.extend([None] * (row + 1 - len(self._state)))
        self._state[row] = info

    def act(self, frame: np.ndarray) -> np.ndarray:
        return self.act_batch(np.asarray(frame)[None])[0]

    def act_batch(self, frames: np.ndarray) -> np.ndarray:
        nominal = np.asarray(self.policy.act_batch(frames), np.float64).reshape(len(frames), 4)
        if self._prev is None or len(self._prev) != len(nominal):
            self._prev = np.zeros_like(nominal)
        out = np.empty_like(nominal)
        for i, u0 in enumerate(nominal):
            info = self._state[i] if i < len(self._state) else None
            out[i] = self.filter(u0, info, self._prev[i])
        changed = np.abs(out - nominal).max(axis=1) > 1e-6
        self.steps += len(out)
        self.changed += int(changed.sum())
        self._prev = out.copy()
        return out.astype(np.float32)

    def filter(
        self, u0: np.ndarray, info: Mapping[str, Any] | None, prev: np.ndarray
    ) -> np.ndarray:
        """One row's safe command for nominal ``u0`` given the previous command ``prev``."""
        lo = np.maximum(-self.high, prev - self.delta)
        hi = np.minimum(self.high, prev + self.delta)
        lo, hi = np.minimum(lo, hi), np.maximum(lo, hi)
        u = np.clip(np.nan_to_num(np.asarray(u0, np.float64)), lo, hi)
        if info is None:
            return u
        c = self.cfg
        k = c.a1 + c.a2, c.a1 * c.a2
        v = np.asarray(info["velocity"], np.float64)
        psi = float(info["yaw"])
        cs, sn = math.cos(psi), math.sin(psi)
        rot = np.array([[cs, -sn], [sn, cs]])
        p = np.array([float(info["x"]), float(info["y"])])
        rv = rot @ v[:2]  # the drone's own world velocity; the wind adds to it
        w = rv + np.asarray(info.get("wind", (0.0, 0.0)), np.float64)
        omega = float(v[3])
        jw = np.array([-rv[1], rv[0]])  # d(R v)/dt from the yaw rate
        rows_a, rows_b = [], []

        def barrier(d: np.ndarray, h: float, sign: float) -> None:
            # h = sign (|d|^2 - r^2); A u_xy >= b from h'' + k0 h' + k1 h >= 0
            hd = sign * 2.0 * (d @ w)
            drift = sign * (2.0 * (w @ w) + 2.0 * omega * (d @ jw) - (2.0 / self.tau) * (d @ rv))
            rows_a.append(sign * (2.0 / self.tau) * (rot.T @ d))
            rows_b.append(-(drift + k[0] * hd + k[1] * h))

        obstacles = info.get("obstacles")
        z = float(info["altitude"])
        if obstacles is not None and len(obstacles):
            ob = np.asarray(obstacles, np.float64)
            tall = ob[:, 3] > z - c.margin_z
            ob = ob[tall]
            if len(ob):
                gap = np.hypot(ob[:, 0] - p[0], ob[:, 1] - p[1]) - ob[:, 2]
                for j in np.argsort(gap)[: c.neighbours]:
                    d = p - ob[j, :2]
                    r = ob[j, 2] + self.grow
                    barrier(d, float(d @ d - r * r), 1.0)
        if c.geofence_radius > 0:
            barrier(p, float(c.geofence_radius**2 - p @ p), -1.0)
        # the box of bounds and rate limits as half-planes
        for axis in (0, 1):
            e = np.eye(2)[axis]
            rows_a += [e, -e]
            rows_b += [lo[axis], -hi[axis]]
        uxy, ok = solve_2d(u[:2], np.array(rows_a), np.array(rows_b))
        self.infeasible += int(not ok)
        # floor: h = z - z_min, h' = vz, h'' = (uz - vz) / tau
        h = z - self.z_min
        uz_min = v[2] - self.tau * (k[0] * v[2] + k[1] * h)
        uz = min(max(u[2], uz_min, lo[2]), hi[2]) if uz_min <= hi[2] else uz_min
        return np.array([uxy[0], uxy[1], uz, u[3]])


__all__ = ["DroneCBFConfig", "DroneSafetyFilter", "solve_2d"]
