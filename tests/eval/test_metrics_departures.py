"""The stricter failure counts: 1 m departures and lane departures, once per excursion."""

from __future__ import annotations

import numpy as np
import pytest

from lnn_drive.eval.metrics import DriveTrace, compute_metrics, departures


def test_departures_count_excursions_not_steps() -> None:
    off = np.array([0.0, 1.2, 1.5, 0.9, -1.1, -1.9, -0.2, 0.0, 1.01])
    assert departures(off, 1.0) == 3
    assert departures(off, 1.75) == 1
    assert departures(np.array([1.5, 1.5]), 1.0) == 1  # already out at the first step
    assert departures(np.zeros(5), 1.0) == 0


def test_compute_metrics_reports_strict_departures_per_km() -> None:
    n = 3000
    off = np.zeros(n)
    off[100:120] = 1.3  # a 1 m departure
    off[500:530] = -1.8  # a lane departure (also beyond 1 m)
    z = np.zeros(n)
    trace = DriveTrace(
        dt=1 / 30, lateral_offset=off, heading_error=z, command=z, expert=z,
        distance=np.arange(1, n + 1) / 3.0, interventions=0, crashed=False, seed=0,
        preset="summer", x=z, y=z,
    )  # fmt: skip
    m = compute_metrics([trace])
    assert m.departures_1m == 2 and m.lane_departures == 1 and m.interventions == 0
    assert m.departures_1m_per_km == pytest.approx(
        2.0
    ) and m.lane_departures_per_km == pytest.approx(1.0)
    assert {"eval/departures_1m_per_km", "eval/lane_departures_per_km"} <= set(m.to_dict())
