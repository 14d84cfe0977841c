"""Closed-loop driving metrics.

Autonomy follows NVIDIA's PilotNet evaluation (Bojarski et al. 2016): each intervention
is charged 6 seconds, ``autonomy = 1 - interventions * 6 s / elapsed s``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

INTERVENTION_PENALTY_S = 6.0
#: The stricter failure notions counted besides interventions (Lechner et al. 2020 report
#: departures of 1 m; a lane departure is the car's centre crossing its lane's marking,
#: half the default 3.5 m lane width).
STRICT_DEPARTURE_M = 1.0
LANE_HALF_WIDTH_M = 1.75


def departures(lateral_offset: np.ndarray, threshold: float) -> int:
    """Number of excursions of ``|lateral_offset|`` beyond ``threshold`` (m), each counted
    once, when it starts."""
    off = np.abs(np.asarray(lateral_offset, np.float64)) > threshold
    return int(off[:1].sum() + (off[1:] & ~off[:-1]).sum())


@dataclass(frozen=True, kw_only=True)
class DriveTrace:
    """What one closed-loop drive recorded, step by step.

    Attributes:
        dt: Control period (s).
        lateral_offset: (N,) signed offset from the lane centre (m), + = left.
        heading_error: (N,) rad.
        command: (N,) commanded curvature (1/m).
        expert: (N,) the privileged expert's curvature at the same states (1/m).
        distance: (N,) distance travelled so far (m).
        interventions: Lane departures (each followed by a reset to the lane centre).
        crashed: The drive ended in a crash (terminate-on-crash mode).
        seed: Road seed.
        preset: Appearance preset.
        x, y: (N,) world position (m), for bird's-eye plots.
        intervention_steps: Steps at which interventions happened.
    """

    dt: float
    lateral_offset: np.ndarray
    heading_error: np.ndarray
    command: np.ndarray
    expert: np.ndarray
    distance: np.ndarray
    interventions: int
    crashed: bool
    seed: int
    preset: str
    x: np.ndarray
    y: np.ndarray
    intervention_steps: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        n = len(self.lateral_offset)
        for name in ("heading_error", "command", "expert", "distance", "x", "y"):
            if len(getattr(self, name)) != n:
                raise ValueError(
                    f"DriveTrace.{name} has {len(getattr(self, name))} steps, lateral_offset {n}"
                )
        if self.dt <= 0:
            raise ValueError(f"DriveTrace.dt must be positive, got {self.dt}")

    @property
    def steps(self) -> int:
        return len(self.lateral_offset)


@dataclass(frozen=True, kw_only=True)
class DriveMetrics:
    """Aggregate closed-loop metrics over one or more drives.

    Attributes:
        autonomy: PilotNet autonomy in [0, 1] (clamped at 0).
        interventions: Total lane departures.
        interventions_per_km: Per km driven.
        crashes: Drives that ended in a crash (terminate mode) plus interventions.
        distance_km: Total distance driven.
        elapsed_s: Total simulated time.
        mean_abs_offset, max_abs_offset: |lateral offset| (m).
        mean_abs_heading_error: rad.
        smoothness: Mean |change of commanded curvature| per step (1/m).
        mean_abs_expert_gap: Mean |command - expert| (1/m).
        drives: Number of drives.
        departures_1m, departures_1m_per_km: Excursions beyond
            :data:`STRICT_DEPARTURE_M` (total, per km).
        lane_departures, lane_departures_per_km: Excursions beyond
            :data:`LANE_HALF_WIDTH_M` (the car's centre over its lane's marking).
    """

    autonomy: float
    interventions: int
    interventions_per_km: float
    crashes: int
    distance_km: float
    elapsed_s: float
    mean_abs_offset: float
    max_abs_offset: float
    mean_abs_heading_error: float
    smoothness: float
    mean_abs_expert_gap: float
    drives: int
    departures_1m: int = 0
    departures_1m_per_km: float = 0.0
    lane_departures: int = 0
    lane_departures_per_km: float = 0.0

    def to_dict(self, prefix: str = "eval/") -> dict[str, Any]:
        return {f"{prefix}{k}": v for k, v in asdict(self).items()}


def autonomy(interventions: int, elapsed_s: float) -> float:
    """PilotNet autonomy, clamped to [0, 1]."""
    if elapsed_s <= 0:
        raise ValueError(f"elapsed time must be positive, got {elapsed_s}")
    return float(max(0.0, 1.0 - interventions * INTERVENTION_PENALTY_S / elapsed_s))


def compute_metrics(traces: Sequence[DriveTrace]) -> DriveMetrics:
    """Aggregate drives into :class:`DriveMetrics`."""
    if not traces:
        raise ValueError("no drives to compute metrics from")
    elapsed = sum(t.steps * t.dt for t in traces)
    dist_km = sum(float(t.distance[-1]) if t.steps else 0.0 for t in traces) / 1000.0
    inter = sum(t.interventions for t in traces)
    crashes = inter + sum(bool(t.crashed) for t in traces)
    off = np.abs(np.concatenate([t.lateral_offset for t in traces]))
    head = np.abs(np.concatenate([t.heading_error for t in traces]))
    smooth = np.concatenate(
        [np.abs(np.diff(t.command)) for t in traces if t.steps > 1] or [np.zeros(1)]
    )
    gap = np.abs(np.concatenate([t.command - t.expert for t in traces]))
    d1 = sum(departures(t.lateral_offset, STRICT_DEPARTURE_M) for t in traces)
    dl = sum(departures(t.lateral_offset, LANE_HALF_WIDTH_M) for t in traces)

    def per_km(n: int) -> float:
        return float(n / dist_km) if dist_km > 0 else float("nan")

    return DriveMetrics(
        autonomy=autonomy(inter + sum(bool(t.crashed) for t in traces), elapsed),
        interventions=int(inter),
        interventions_per_km=per_km(inter),
        crashes=int(crashes),
        distance_km=float(dist_km),
        elapsed_s=float(elapsed),
        mean_abs_offset=float(off.mean()),
        max_abs_offset=float(off.max()),
        mean_abs_heading_error=float(head.mean()),
        smoothness=float(smooth.mean()),
        mean_abs_expert_gap=float(gap.mean()),
        drives=len(traces),
        departures_1m=d1,
        departures_1m_per_km=per_km(d1),
        lane_departures=dl,
        lane_departures_per_km=per_km(dl),
    )
