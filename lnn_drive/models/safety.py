"""A control-barrier-function (CBF) safety filter for lane keeping, in closed form.

The car is the kinematic bicycle of the simulator in road (Frenet) coordinates: lateral
offset ``d`` from the lane centre (m, + left), heading error ``psi`` (rad), speed ``v``
(m/s), command ``u`` = path curvature (1/m), road centreline curvature ``k_r`` (1/m) with
the lane centre ``c`` metres from the centreline (the right lane: c = -lane_width / 2)::

    d'   = v sin(psi)
    psi' = v (u - k_eff),    k_eff = k_r cos(psi) / (1 - k_r (c + d))

Two barriers keep the car between the lane limits ``|d| <= d_max``: ``h_left = d_max - d``
and ``h_right = d_max + d``. Both have relative degree 2 in ``u``, so each gets a
high-order CBF (Xiao & Belta 2019; the form BarrierNet uses) with class-K gains p1, p2::

    psi_1 = h' + p1 h >= 0,    psi_1' + p2 psi_1 >= 0
    <=>  h'' + (p1 + p2) h' + p1 p2 h >= 0

``h''`` is affine in ``u`` with coefficient ``-/+ v^2 cos(psi)``, so each barrier is one
linear inequality on the scalar ``u``: the left one an upper bound, the right one a lower
bound, and the quadratic program ``min (u - u_nom)^2`` over both is solved exactly by
clipping ``u_nom`` to the interval. The interval is never empty (its width is
``2 p1 p2 d_max / (v^2 cos psi) > 0``). Then the actuator bounds and the rate limit: see
:class:`CBFConfig`. ``docs/safety.md`` has the forward-invariance argument and what is not
guaranteed.

:func:`cbf_interval` and :func:`filter_command` are written once for numpy and torch (the
torch version is differentiable in the nominal command, the state and the gains, for
BarrierNet-style training); :class:`SafetyFilter` wraps any policy with the closed-loop
``reset`` / ``act`` / ``act_batch`` / ``reset_rows`` API and reads the state it needs from
the simulator's ``info`` (privileged) through :meth:`SafetyFilter.observe`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np
import torch


@dataclass(frozen=True, kw_only=True)
class CBFConfig:
    """Parameters of the lane-keeping CBF filter.

    Attributes:
        d_max: Lane limit on |lateral offset| the barriers keep (m). The simulator counts a
            departure beyond ``lane_width / 2 + crash_margin`` = 2.0 m; 1.5 m leaves room
            for the zero-order hold between control steps.
        p1, p2: Class-K gains of the high-order CBF (1/s). Larger: the filter acts later
            and harder.
        speed: Forward speed v (m/s).
        lane_centre: Lateral position of the lane centre from the road centreline (m).
        u_max: Hard bound on |command| (1/m): the actuator's limit, never exceeded.
        rate_max: Limit on |command change| per second ((1/m)/s), ``None``: off. Applied to
            the nominal command; the barrier may exceed it when it must (counted in
            ``SafetyFilter.stats``), because the bound is a comfort limit and the lane is not.
        dt: Control period (s), for the rate limit.
        cos_min: Floor of cos(psi) in the constraint (heading errors beyond ~84 degrees).
    """

    d_max: float = 1.5
    p1: float = 1.0
    p2: float = 1.0
    speed: float = 10.0
    lane_centre: float = -1.75
    u_max: float = 0.1
    rate_max: float | None = 1.0
    dt: float = 1 / 30
    cos_min: float = 0.1

    def __post_init__(self) -> None:
        for name in ("d_max", "p1", "p2", "speed", "u_max", "dt", "cos_min"):
            v = float(getattr(self, name))
            if not np.isfinite(v) or v <= 0:
                raise ValueError(f"CBFConfig.{name} must be a positive number, got {v}")
        if self.rate_max is not None and not float(self.rate_max) > 0:
            raise ValueError(f"CBFConfig.rate_max must be > 0 or None, got {self.rate_max}")
        if not self.cos_min < 1:
            raise ValueError(f"CBFConfig.cos_min must be < 1, got {self.cos_min}")


def _xp(x: Any) -> ModuleType:
    return torch if isinstance(x, torch.Tensor) else np


def cbf_interval(
    d: Any, psi: Any, k_road: Any, cfg: CBFConfig, *, p1: Any = None, p2: Any = None
) -> tuple[Any, Any]:
    """The commands (lo, hi) that satisfy both lane barriers (numpy or torch, broadcast).

    Args:
        d: Lateral offset from the lane centre (m), (B,) or scalar.
        psi: Heading error (rad).
        k_road: Road centreline curvature at the car (1/m).
        cfg: Filter parameters.
        p1, p2: Class-K gains overriding ``cfg`` (e.g. learned, per row, in torch).

    Returns:
        ``(lo, hi)``: the right barrier's lower and the left barrier's upper bound on u.
    """
    xp = _xp(d)
    p1 = cfg.p1 if p1 is None else p1
    p2 = cfg.p2 if p2 is None else p2
    v = cfg.speed
    cos = xp.maximum(xp.cos(psi), xp.zeros_like(psi) + cfg.cos_min)
    k_eff = k_road * xp.cos(psi) / (1.0 - k_road * (cfg.lane_centre + d))
    h_dot_left = -v * xp.sin(psi)  # d/dt (d_max - d)
    slack_left = (p1 + p2) * h_dot_left + p1 * p2 * (cfg.d_max - d)
    slack_right = -(p1 + p2) * h_dot_left + p1 * p2 * (cfg.d_max + d)
    scale = v * v * cos
    return k_eff - slack_right / scale, k_eff + slack_left / scale


def filter_command(
    u_nom: Any,
    d: Any,
    psi: Any,
    k_road: Any,
    cfg: CBFConfig,
    *,
    u_prev: Any = None,
    p1: Any = None,
    p2: Any = None,
) -> Any:
    """The closed-form filter: rate-limit ``u_nom``, clip it to the barrier interval, then
    to the actuator bounds (numpy or torch; differentiable in torch).

    Returns:
        The safe command, same type and shape as ``u_nom``.
    """
    xp = _xp(u_nom)
    u = u_nom
    if u_prev is not None and cfg.rate_max is not None:
        du = cfg.rate_max * cfg.dt
        u = xp.minimum(xp.maximum(u, u_prev - du), u_prev + du)
    lo, hi = cbf_interval(d, psi, k_road, cfg, p1=p1, p2=p2)
    u = xp.minimum(xp.maximum(u, lo), hi)
    return xp.minimum(xp.maximum(u, xp.zeros_like(u) - cfg.u_max), xp.zeros_like(u) + cfg.u_max)


#: ``info`` keys the filter reads (the simulator's privileged state).
STATE_KEYS = ("lateral_offset", "heading_error", "road_curvature")


class SafetyFilter:
    """Wraps any policy (``reset`` / ``reset_rows`` / ``act_batch``) with the CBF filter on
    its first output (the curvature command).

    The state comes from :meth:`observe`, called by the closed-loop rollout with every
    ``info`` of the vector environment (privileged state: an upper bound on what a state
    estimate can give). Until the first ``observe`` the state is taken as the lane centre,
    aligned.

    Args:
        policy: The nominal policy.
        cfg: Filter parameters.

    Attributes:
        stats: ``steps``, ``changed`` (steps where the command was changed by more than
            1e-9), ``rate_exceeded`` (steps where the barrier needed a faster change than
            ``rate_max``).
    """

    def __init__(self, policy: Any, cfg: CBFConfig | None = None) -> None:
        self.policy = policy
        self.cfg = cfg or CBFConfig()
        self.preprocess = getattr(policy, "preprocess", None)
        self.model_name = f"{getattr(policy, 'model_name', 'policy')}+cbf"
        self.stats = {"steps": 0, "changed": 0, "rate_exceeded": 0}
        self._state = np.zeros((1, 3))
        self._u_prev: np.ndarray | None = None

    def reset(self, batch_size: int = 1) -> None:
        self.policy.reset(batch_size)
        self._state = np.zeros((int(batch_size), 3))
        self._u_prev = None

    def reset_rows(self, mask: np.ndarray) -> None:
        self.policy.reset_rows(mask)
        m = np.asarray(mask, bool)
        if self._u_prev is not None and len(m) == len(self._u_prev):
            self._u_prev = np.where(m, np.nan, self._u_prev)

    def observe(self, info: Mapping[str, Any], rows: np.ndarray | None = None) -> None:
        """Take the state of rows ``rows`` (all if ``None``) from a (vector) env's ``info``."""
        cols = []
        for k in STATE_KEYS:
            if k not in info:
                raise ValueError(f"SafetyFilter.observe: info has no {k!r} (privileged state)")
            cols.append(np.asarray(info[k], np.float64).reshape(-1))
        new = np.stack(cols, axis=1)  # (B, 3)
        if new.shape[0] != self._state.shape[0]:
            self._state = np.zeros_like(new)
        if rows is None:
            self._state = new
        else:
            r = np.asarray(rows, bool)
            self._state[r] = new[r]

    def act_batch(self, frames: np.ndarray) -> np.ndarray:
        out = np.array(self.policy.act_batch(frames), dtype=np.float32)  # (B, k)
        u_nom = out[:, 0].astype(np.float64)
        d, psi, k_road = self._state[: len(out)].T
        u_prev = self._u_prev
        if u_prev is not None:
            u_prev = np.where(np.isnan(u_prev), u_nom, u_prev)
        u = filter_command(u_nom, d, psi, k_road, self.cfg, u_prev=u_prev)
        if u_prev is not None and self.cfg.rate_max is not None:
            lim = self.cfg.rate_max * self.cfg.dt + 1e-12
            self.stats["rate_exceeded"] += int((np.abs(u - u_prev) > lim).sum())
        self.stats["steps"] += len(u)
        self.stats["changed"] += int((np.abs(u - u_nom) > 1e-9).sum())
        self._u_prev = u
        out[:, 0] = u
        return out

    def act(self, frame: np.ndarray) -> np.ndarray:
        return self.act_batch(np.asarray(frame)[None])[0]
