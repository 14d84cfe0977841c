from __future__ import annotations

import numpy as np
import pytest

from lnn_drive.eval.metrics import DriveTrace, autonomy, compute_metrics


def _trace(n: int, *, interventions: int = 0, crashed: bool = False, cmd=None) -> DriveTrace:
    z = np.zeros(n)
    return DriveTrace(
        dt=1 / 30,
        lateral_offset=np.linspace(-0.5, 0.25, n),
        heading_error=np.full(n, 0.1),
        command=z if cmd is None else cmd,
        expert=z,
        distance=np.arange(1, n + 1) / 3.0,
        interventions=interventions,
        crashed=crashed,
        seed=0,
        preset="summer",
        x=z,
        y=z,
    )


def test_autonomy_matches_pilotnet_formula() -> None:
    # PilotNet: 10 interventions in 600 s -> 1 - 60/600 = 90%
    assert autonomy(10, 600.0) == pytest.approx(0.9)
    assert autonomy(0, 1.0) == 1.0
    assert autonomy(1000, 60.0) == 0.0


def test_compute_metrics_aggregates_drives() -> None:
    cmd = np.array([0.0, 0.1, 0.0, 0.1] * 750)
    m = compute_metrics([_trace(3000, interventions=2, cmd=cmd), _trace(3000)])
    assert m.elapsed_s == pytest.approx(200.0)
    assert m.distance_km == pytest.approx(2.0)
    assert m.interventions == 2 and m.interventions_per_km == pytest.approx(1.0)
    assert m.autonomy == pytest.approx(1 - 12 / 200)
    assert m.max_abs_offset == pytest.approx(0.5)
    assert m.smoothness == pytest.approx(0.1 * 2999 / 5998)
    assert m.mean_abs_expert_gap == pytest.approx(0.025)
    assert set(m.to_dict()) >= {"eval/autonomy", "eval/interventions_per_km"}


def test_trace_validates_lengths() -> None:
    with pytest.raises(ValueError, match="command has 3 steps"):
        _trace(4, cmd=np.zeros(3))
    with pytest.raises(ValueError, match="no drives"):
        compute_metrics([])
