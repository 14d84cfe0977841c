"""Saliency and dynamics over seeds: normalisations, regions, control, h-only PCA, readouts."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lnn_drive.explain import seeds as S
from tests.explain.fakes import FakeEnv, FakePolicy


def _bumps(h: int = 32, w: int = 48, a: float = 1.0, b: float = 0.5) -> np.ndarray:
    yy, xx = np.mgrid[:h, :w]
    g = lambda cy, cx: np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 20.0)  # noqa: E731
    return a * g(10, 12) + b * g(20, 36)


def test_joint_and_per_map_normalisation_differ_on_a_two_mode_map() -> None:
    clean = _bumps(a=1.0, b=0.5)[None]
    # noise adds one hot pixel: per map it becomes the maximum and squashes both modes of
    # the noisy map only; on the joint scale both maps are squashed alike
    noisy = clean.copy()
    noisy[0, 0, 0] = 4.0
    joint = S.saliency_ssim(clean, noisy, normalisation="joint")[0]
    per = S.saliency_ssim(clean, noisy, normalisation="per_map")[0]
    assert joint > 0.9 and per < 0.6
    # a map scaled down as a whole is identical per map, not jointly
    scaled = 0.3 * clean
    assert S.saliency_ssim(clean, scaled, normalisation="per_map")[0] == pytest.approx(1.0)
    assert S.saliency_ssim(clean, scaled, normalisation="joint")[0] < 0.9
    a, b = S.joint_minmax(clean, scaled)
    assert a.max() == pytest.approx(1.0) and b.max() == pytest.approx(0.3, abs=1e-6)
    with pytest.raises(ValueError, match="normalisation"):
        S.saliency_ssim(clean, noisy, normalisation="both")


def test_region_masks_and_shares() -> None:
    lab = np.zeros((1, 10, 10), np.uint8)  # sky on top
    lab[0, 5:] = 1  # ground
    lab[0, 5:, 3:7] = 2  # road
    lab[0, 5:, 5] = 3  # marking
    lab[0, 5, 0] = 4  # object
    m = S.region_masks(lab, band=0.1)
    assert m["road"].sum() == 15 and m["markings"].sum() == 5
    assert m["roadside"].sum() == 30  # ground 29 + object 1
    assert set(np.nonzero(m["horizon"][0].any(axis=1))[0]) == {4, 5, 6}
    sal = np.zeros((1, 10, 10))
    sal[0, 5:, 5] = 1.0  # all mass on the marking
    share, area = S.region_shares(sal, lab)
    assert share["markings"] == pytest.approx(1.0) and share["road"] == 0.0
    assert area["road"] == pytest.approx(0.15)


def test_mean_ci_is_the_t_interval() -> None:
    c = S.MeanCI.of([1.0, 2.0, 3.0])
    assert c.mean == 2.0 and c.n == 3
    assert c.high - c.mean == pytest.approx(4.302653 / np.sqrt(3), rel=1e-5)
    one = S.MeanCI.of([0.4])
    assert one.low == one.high == 0.4 and one.fmt() == "0.400"
    with pytest.raises(ValueError):
        S.MeanCI.of([])


def _frames(n: int = 6) -> tuple[np.ndarray, np.ndarray]:
    env = FakeEnv()
    frames, labels = [], []
    env.reset(seed=1)
    for _ in range(n):
        obs, *_ = env.step(np.zeros(1, np.float32))
        frames.append(obs)
        labels.append(env.render_labels())
    return np.stack(frames), np.stack(labels)


def test_saliency_over_seeds_returns_records_per_seed_and_a_control() -> None:
    frames, labels = _frames()
    pols = [FakePolicy(0), FakePolicy(1), FakePolicy(2)]
    summ, ctrl = S.saliency_over_seeds(
        pols, frames, labels, model="ncp", noise_variances=[0.1, 0.3], control_seeds=[7, 8]
    )
    assert len(summ.seeds) == 3 and summ.share["road"].n == 3
    assert set(summ.ssim) == {"joint", "per_map"} and set(summ.ssim["joint"]) == {0.1, 0.3}
    assert summ.share["road"].low <= summ.share["road"].mean <= summ.share["road"].high
    assert ctrl is not None and ctrl.control and len(ctrl.seeds) == 2
    d = summ.to_dict()
    assert d["ssim"]["joint"]["0.1"]["n"] == 3
    md = S.saliency_tables([summ, ctrl])
    assert "SSIM var 0.1 joint" in md and "untrained encoder" in md
    with pytest.raises(ValueError, match="no checkpoints"):
        S.saliency_over_seeds([], frames, labels, model="x")


def _red_detector(pol: FakePolicy) -> FakePolicy:
    """Hand-set encoder whose maps light up on red pixels only (a 'trained' road finder)."""
    with torch.no_grad():
        for i, c in enumerate(pol.encoder.convs):
            c.weight.zero_()
            c.bias.fill_(-0.5 if i == 0 else 0.0)
            if i == 0:
                c.weight[:, 0, 2, 2] = 2.0  # red channel (standardised) at the centre tap
                c.weight[:, 1, 2, 2] = -2.0
            else:
                c.weight[:, :, 1, 1] = 1.0
    return pol


def test_untrained_control_is_near_chance_where_the_trained_encoder_is_not() -> None:
    rng = np.random.default_rng(0)
    n, h, w = 8, 24, 40
    labels = np.ones((n, h, w), np.uint8)  # ground
    labels[:, :, 14:26] = 2  # a road band
    frames = rng.integers(0, 256, (n, h, w, 3), dtype=np.uint8)
    frames[labels == 2, 0] = 255  # the road is red
    frames[labels == 2, 1] = 0
    trained = _red_detector(FakePolicy(0))
    ctrl = S.untrained_control(trained, seed=3)
    assert not torch.equal(ctrl.encoder.convs[0].weight, trained.encoder.convs[0].weight)
    again = S.untrained_control(trained, seed=3)
    assert torch.equal(ctrl.encoder.convs[0].weight, again.encoder.convs[0].weight)
    share_t, area = S.region_shares(S.raw_saliency(trained, frames), labels)
    share_c, _ = S.region_shares(S.raw_saliency(ctrl, frames), labels)
    lift_t, lift_c = share_t["road"] / area["road"], share_c["road"] / area["road"]
    assert lift_t > 2.0
    assert abs(lift_c - 1.0) < abs(lift_t - 1.0)
    # on frames with no structure at all, the control's share is the area (chance)
    flat = rng.integers(0, 256, (n, h, w, 3), dtype=np.uint8)
    share_f, _ = S.region_shares(S.raw_saliency(ctrl, flat), labels)
    assert share_f["road"] / area["road"] == pytest.approx(1.0, abs=0.2)


def test_lstm_states_are_analysed_on_h_only() -> None:
    from lnn_drive.explain.dynamics import pca_states
    from lnn_drive.models.controllers import LSTMController

    class P:
        controller = LSTMController(in_features=4, out_features=1, units=3)

    rng = np.random.default_rng(0)
    t = np.linspace(0, 6, 200)
    h = np.stack([np.sin(t), np.cos(t), 0.1 * rng.standard_normal(200)], 1)
    c = np.stack([50 * t, 0 * t, 0 * t], 1)  # an unbounded cell state
    states = np.concatenate([h, c], 1)
    hs = S.analysis_states(P(), states)
    assert hs.shape == (200, 3) and np.array_equal(hs, h)
    assert pca_states(states).pc1 > 0.99  # [h, c]: PC1 is the cell state's drift
    assert pca_states(hs).pc1 < 0.7
    assert S.analysis_states(object(), states).shape == (200, 6)


def test_tree_vs_linear_readout_can_go_either_way() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((400, 3))
    lin = x @ np.array([0.5, -0.2, 0.1])
    r = S.tree_vs_linear(x, lin, names=["a", "b", "c"])
    assert r.linear_heldout > 0.99 and r.tree_gain < -0.05
    step = np.where(x[:, 0] > 0, 1.0, -1.0)
    r2 = S.tree_vs_linear(x, step, names=["a", "b", "c"])
    assert r2.tree_heldout > 0.99 and r2.tree_gain > 0.1


def test_seed_dynamics_uses_command_neurons_and_h(tmp_path) -> None:
    from lnn_drive.explain.recording import record_closed_loop

    pol = FakePolicy(0)
    rec = record_closed_loop(pol, FakeEnv(), steps=40, seed=0, keep_frames=False)
    d = S.seed_dynamics(pol, rec, source="fake")
    assert d.units == rec.states.shape[1]
    assert d.readout.features[0] == "command_0"
    summ = S.dynamics_over_seeds([pol, FakePolicy(1)], FakeEnv, model="ncp", steps=40)
    assert summ.pc1.n == 2 and "linear R^2" in S.dynamics_table([summ])


def test_explain_over_seeds_writes_tables_for_every_model(tmp_path) -> None:
    cfg = S.SeedsConfig(
        frames=8, roads=2, noise_variances=[0.2], control_seeds=[0], dynamics_steps=30
    )
    out = S.explain_over_seeds(
        {"ncp": [FakePolicy(0), FakePolicy(1)], "ncp_b": [FakePolicy(2)]},
        lambda preset: FakeEnv(),
        cfg,
        tmp_path,
    )
    md = (tmp_path / "seeds.md").read_text()
    assert "ncp (untrained encoder)" in md and "linear R^2 held-out" in md
    assert [s["model"] for s in out["saliency"]] == [
        "ncp",
        "ncp (untrained encoder)",
        "ncp_b",
        "ncp_b (untrained encoder)",
    ]
    assert out["dynamics"][0]["pc1"]["n"] == 2 and (tmp_path / "seeds.json").exists()


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"frames": 0}, "seeds.frames"),
        ({"noise_variances": []}, "seeds.noise_variances"),
        ({"noise_scale": "pixels"}, "seeds.noise_scale"),
        ({"dynamics_steps": 3}, "seeds.dynamics_steps"),
        ({"tree_heldout": 1.0}, "seeds.tree_heldout"),
    ],
)
def test_seeds_config_errors(kw, match) -> None:
    with pytest.raises(ValueError, match=match):
        S.SeedsConfig(**kw)


def test_benchmark_checkpoints_are_found_in_seed_order(tmp_path) -> None:
    for model, seed in [("ncp_cfc", 10), ("ncp_cfc", 2), ("lstm", 0)]:
        p = tmp_path / "runs" / model / f"seed{seed}" / "checkpoints" / "best.pt"
        p.parent.mkdir(parents=True)
        p.write_bytes(b"x")
    found = S.benchmark_checkpoints(tmp_path)
    assert list(found) == ["lstm", "ncp_cfc"]
    assert [p.split("/")[-3] for p in found["ncp_cfc"]] == ["seed2", "seed10"]
    with pytest.raises(FileNotFoundError, match="no runs/"):
        S.benchmark_checkpoints(tmp_path / "runs")
