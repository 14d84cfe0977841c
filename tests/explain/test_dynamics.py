"""Closed-loop recording, wiring, PCA and decision-tree explanations."""

from __future__ import annotations

import numpy as np
import pytest

from lnn_drive.explain.dynamics import (
    command_activity,
    find_wiring,
    pca_states,
    plot_neuron_traces,
    plot_pca,
    plot_wiring,
    record_closed_loop,
    steering_classes,
    tree_explanation,
)
from tests.explain.fakes import FakeEnv, FakePolicy


def test_record_closed_loop_and_plots(tmp_path) -> None:
    pol = FakePolicy()
    rec = record_closed_loop(pol, FakeEnv(end_after=30), steps=50, seed=3, labels=True)
    assert len(rec) == 30  # stopped at episode end
    assert rec.frames.shape == (30, 24, 40, 3) and rec.labels.shape == (30, 24, 40)
    assert rec.states.shape == (30, 15)
    assert rec.groups["command"] == [1, 2, 3, 4, 5, 6] and rec.groups["motor"] == [0]
    np.testing.assert_array_equal(rec.steering, rec.actions[:, 0])
    assert np.ptp(rec.states[:, rec.groups["command"]]) > 0  # the neurons moved
    again = record_closed_loop(pol, FakeEnv(end_after=30), steps=50, seed=3)
    np.testing.assert_array_equal(rec.steering, again.steering)  # reset() clears state
    assert plot_neuron_traces(rec, tmp_path / "traces.png").stat().st_size > 1000
    res = pca_states(rec.states)
    assert plot_pca({"fake": (res, rec.steering)}, tmp_path / "pca.png").exists()
    acts, names = command_activity(rec)
    assert acts.shape == (30, 6) and names[0] == "command_0"


def test_wiring_found_and_drawn(tmp_path) -> None:
    pol = FakePolicy()
    w = find_wiring(pol)
    assert w is not None and w.units == 15
    png = plot_wiring(w, tmp_path / "wiring.png")
    assert png.stat().st_size > 5000
    assert not list(tmp_path.glob(".*"))  # no partial file left behind
    from torch import nn

    assert find_wiring(nn.LSTM(3, 4)) is None


def test_pca_rank_one() -> None:
    rng = np.random.default_rng(0)
    t = rng.standard_normal(200)
    states = np.outer(t, rng.standard_normal(19)) + 1e-6 * rng.standard_normal((200, 19))
    assert pca_states(states).pc1 == pytest.approx(1.0, abs=1e-6)
    with pytest.raises(ValueError, match="states"):
        pca_states(np.zeros(5))


def test_tree_recovers_a_rule() -> None:
    rng = np.random.default_rng(1)
    x = rng.uniform(-1, 1, (400, 3))
    steer = np.where(x[:, 1] > 0.2, 0.03, np.where(x[:, 1] < -0.2, -0.03, 0.0))
    reg = tree_explanation(x, steer, names=["c0", "c1", "c2"], max_depth=2)
    assert reg.fidelity_fit == pytest.approx(1.0) and reg.fidelity_heldout > 0.95
    assert "c1 <=" in reg.rules and "c0" not in reg.rules
    cls = tree_explanation(
        x, steer, names=["c0", "c1", "c2"], kind="classification", threshold=0.01
    )
    assert cls.fidelity_fit == pytest.approx(1.0) and cls.fidelity_heldout > 0.95
    assert "class: left" in cls.rules
    assert list(steering_classes(np.array([0.1, 0.0, -0.1]), 0.01)) == ["left", "straight", "right"]
    with pytest.raises(ValueError, match="do not match"):
        tree_explanation(x, steer, names=["a"])
    with pytest.raises(ValueError, match="kind"):
        tree_explanation(x, steer, names=["a", "b", "c"], kind="forest")
