"""Encoder, controllers, policy: counts, shapes, state handling, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from lnn_drive import PROJECT_ROOT
from lnn_drive.data import Preprocess
from lnn_drive.models import (
    CONTROLLERS,
    CheckpointMismatchError,
    ConvHead,
    PilotNet,
    Policy,
    build_controller,
)
from lnn_drive.models.summary import summarise_config

MODELS = ["ncp_ltc", "ncp_cfc", "lstm", "gru", "ctrnn", "cfc", "feedforward"]


def model_cfg(name: str) -> dict:
    return yaml.safe_load((PROJECT_ROOT / "conf" / "model" / f"{name}.yaml").read_text())


def make_policy(name: str = "ncp_cfc", *, h: int = 78, w: int = 200, **kw) -> Policy:
    torch.manual_seed(0)
    return Policy(
        model_cfg=model_cfg(name),
        preprocess=Preprocess(height=h, width=w).with_input(h, w),
        output_names=["steering"],
        target_mean=[0.01],
        target_std=[0.02],
        **kw,
    )


def test_conv_head_has_the_papers_79420_parameters() -> None:
    head = ConvHead()
    assert sum(p.numel() for p in head.parameters()) == 79_420
    maps = head.feature_maps(torch.zeros(2, 3, 78, 200))
    assert maps.shape == (2, 8, 10, 25)
    assert head.features(torch.zeros(2, 3, 78, 200)).shape == (2, 32)
    assert [c.out_channels for c in head.conv_layers()] == [24, 36, 48, 64, 8]


def test_fused_per_map_dense_equals_eight_linear_layers() -> None:
    torch.manual_seed(0)
    head = ConvHead()
    x = torch.randn(3, 3, 78, 200)
    maps = head.feature_maps(x).flatten(2)  # (N, 8, 250)
    ref = []
    for m in range(8):
        lin = torch.nn.Linear(250, 4)
        lin.weight.data = head.map_weight[m].T.clone()
        lin.bias.data = head.map_bias[m].clone()
        ref.append(torch.relu(lin(maps[:, m])))
    torch.testing.assert_close(head.features(x), torch.cat(ref, dim=1))


def test_pilotnet_encoder() -> None:
    enc = PilotNet()
    assert enc.features(torch.zeros(2, 3, 78, 200)).shape == (2, enc.feature_dim)
    assert len(enc.conv_layers()) == 5


def test_ncp_wiring_counts_match_the_paper() -> None:
    s = summarise_config(model_cfg("ncp_ltc"))
    assert (s.encoder_params, s.neurons, s.synapses) == (79_420, 19, 252)
    assert s.paper_convention == 1_065  # the paper's count (seed 1)
    assert s.controller_params == 1_065 + 2 * 32 + 2 * 1  # + ncps's affine in/out mapping
    lstm = summarise_config(model_cfg("lstm"))
    assert lstm.paper_convention == 24_897 and lstm.controller_params == 24_897 + 256


def test_ncp_groups_and_fresh_wiring_per_model() -> None:
    a = build_controller(model_cfg("ncp_ltc")["controller"], in_features=32, out_features=1)
    b = build_controller(model_cfg("ncp_ltc")["controller"], in_features=32, out_features=1)
    np.testing.assert_array_equal(a.wiring.adjacency_matrix, b.wiring.adjacency_matrix)
    assert a.wiring is not b.wiring
    g = a.neuron_groups()
    assert (len(g["inter"]), len(g["command"]), len(g["motor"])) == (12, 6, 1)
    c = build_controller(model_cfg("ncp_cfc")["controller"], in_features=32, out_features=1)
    assert c.neuron_groups()["motor"] == [18]
    with pytest.raises(ValueError, match="motor_neurons=1 must equal"):
        build_controller(model_cfg("ncp_cfc")["controller"], in_features=32, out_features=4)
    with pytest.raises(ValueError, match="unknown"):
        build_controller({"type": "transformer"}, in_features=32, out_features=1)


@pytest.mark.parametrize("name", sorted(CONTROLLERS))
def test_controllers_carry_state_across_calls(name: str) -> None:
    torch.manual_seed(0)
    c = build_controller({"type": name}, in_features=32, out_features=2)
    x = torch.randn(3, 10, 32)
    y, h = c(x)
    assert y.shape == (3, 10, 2) and h.shape == (3, c.state_size)
    y1, h1 = c(x[:, :4])
    y2, h2 = c(x[:, 4:], h1)
    torch.testing.assert_close(torch.cat([y1, y2], 1), y, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(h2, h, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name", MODELS)
def test_every_model_config_builds_and_acts(name: str) -> None:
    p = make_policy(name)
    y, h = p(torch.randint(0, 255, (2, 3, 3, 78, 200), dtype=torch.uint8))
    assert y.shape == (2, 3, 1) and h.shape == (2, p.state_size)
    p.reset()
    a = p.act(np.zeros((78, 200, 3), np.uint8))
    assert a.shape == (1,) and np.isfinite(a).all()


def test_act_matches_the_sequence_forward_and_reset_restarts() -> None:
    p = make_policy("ncp_ltc").eval()
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 255, (5, 78, 200, 3), dtype=np.uint8)
    p.reset()
    acts = np.stack([p.act(f) for f in frames])
    with torch.no_grad():
        x = torch.from_numpy(frames.transpose(0, 3, 1, 2).copy())[None]  # (1, T, 3, H, W)
        y, _ = p(x)
    np.testing.assert_allclose(acts, y[0].numpy(), atol=1e-5)
    p.reset()
    np.testing.assert_allclose(p.act(frames[0]), acts[0], atol=1e-6)
    assert p.neuron_state().shape == (1, 19)


def test_act_batch_and_reset_rows() -> None:
    p = make_policy("ncp_cfc").eval()
    rng = np.random.default_rng(1)
    frames = rng.integers(0, 255, (3, 4, 78, 200, 3), dtype=np.uint8)  # (steps, B, ...)
    p.reset(4)
    for f in frames:
        p.act_batch(f)
    state = p.neuron_state()
    p.reset_rows(np.array([True, False, True, False]))
    after = p.neuron_state()
    assert (after[[0, 2]] == 0).all()
    np.testing.assert_array_equal(after[[1, 3]], state[[1, 3]])
    # A reset row continues exactly like a fresh episode.
    out = p.act_batch(frames[0])
    p.reset(1)
    np.testing.assert_allclose(out[0], p.act(frames[0, 0]), atol=1e-5)
    with pytest.raises(ValueError, match="bool mask of shape"):
        p.reset_rows(np.array([True, False, True]))


def test_wrong_frame_shape_or_dtype_is_a_clear_error() -> None:
    p = make_policy("ncp_cfc")
    p.reset()
    with pytest.raises(ValueError, match=r"height 80 != the 78"):
        p.act(np.zeros((80, 200, 3), np.uint8))
    with pytest.raises(ValueError, match="expected uint8 RGB"):
        p.act(np.zeros((78, 200, 3), np.float32))
    with pytest.raises(ValueError, match="expected a numpy"):
        p.act([[0]])
    with pytest.raises(ValueError, match=r"expected uint8 frames \(B, H, W, 3\)"):
        p.act_batch(np.zeros((78, 200, 3), np.uint8))
    with pytest.raises(ValueError, match=r"expected frames \(B, T, 3, 78, 200\)"):
        p(torch.zeros(1, 3, 78, 200))


def test_output_scaling_is_stored_in_the_model(tmp_path: Path) -> None:
    p = make_policy("feedforward")
    z, _ = p.forward_standardised(torch.zeros(1, 2, 3, 78, 200, dtype=torch.uint8))
    y, _ = p(torch.zeros(1, 2, 3, 78, 200, dtype=torch.uint8))
    torch.testing.assert_close(y, z * 0.02 + 0.01)
    assert {"output_mean", "output_std"} <= set(p.state_dict())


def test_load_weights_names_the_mismatching_key() -> None:
    p = make_policy("ncp_cfc")
    other = make_policy("lstm")
    with pytest.raises(CheckpointMismatchError, match="missing key"):
        p.load_weights(other.state_dict())
    sd = p.state_dict()
    sd["encoder.map_bias"] = torch.zeros(8, 5)
    with pytest.raises(CheckpointMismatchError, match="'encoder.map_bias' has shape"):
        p.load_weights(sd)
