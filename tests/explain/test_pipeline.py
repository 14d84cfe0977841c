"""The saliency command's body on the fake policy/env, and its config errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lnn_drive.explain.pipeline import SaliencyConfig, collect_frames, explain_policies
from tests.explain.fakes import FakeEnv, FakePolicy


def _factory(preset):
    return FakeEnv(end_after=25)


def test_collect_frames_spreads_over_roads() -> None:
    frames, labels = collect_frames(_factory, n=9, stride=2, roads=3, seed=5)
    assert frames.shape == (9, 24, 40, 3) and labels.shape == (9, 24, 40)
    assert not np.array_equal(frames[0], frames[3])  # a new road (phase) every 3 frames


def test_explain_policies_writes_everything(tmp_path) -> None:
    scfg = SaliencyConfig(
        frames=12,
        frame_stride=2,
        roads=2,
        noise_variances=[0.1, 0.3],
        presets=["fog"],
        preset_frames=4,
        grid_frames=3,
        dynamics_steps=40,
        video_steps=8,
        batch=5,
    )
    pols = {"ncp_a": FakePolicy(0), "ncp_b": FakePolicy(1)}
    s = explain_policies(pols, _factory, scfg, tmp_path, base_preset="summer")
    for key in (
        "saliency_grid",
        "gradient_grid",
        "ssim_plot",
        "attention_plot",
        "pca",
        "ncp_a/traces",
        "ncp_a/wiring",
        "ncp_a/tree",
        "ncp_b/video",
        "summary_md",
    ):
        assert (tmp_path / s["files"][key].split(str(tmp_path) + "/")[-1]).exists(), key
    assert set(s["ssim"]["ncp_a"]) == {"0.1", "0.3"}
    assert 0 < s["ssim"]["ncp_a"]["0.1"]["mean"] <= 1
    assert "ncp_b/fog" in s["attention"] and "ncp_a/clean (summer)" in s["attention"]
    d = s["dynamics"]["ncp_a"]
    assert d["steps"] == 25 and 0 < d["pc1"] <= 1
    assert d["tree"]["regression"]["features"][0] == "command_0"
    md = (tmp_path / "summary.md").read_text()
    assert "| ncp_a |" in md and "![VisualBackProp](saliency_grid.png)" in md
    assert json.loads((tmp_path / "summary.json").read_text())["models"] == ["ncp_a", "ncp_b"]
    assert "command_" in (tmp_path / "ncp_a" / "tree.txt").read_text()


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"frames": 0}, "saliency.frames"),
        ({"noise_variances": [0.0]}, "noise_variances"),
        ({"grid_frames": 9, "frames": 4}, "grid_frames"),
        ({"horizon_band": 1.5}, "horizon_band"),
    ],
)
def test_config_errors(kw, match) -> None:
    with pytest.raises(ValueError, match=match):
        SaliencyConfig(**kw)
