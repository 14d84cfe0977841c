"""The vision state head, the BarrierNet layer and the filter driven by the policy's own
state: the default model is untouched, gradients reach the learned class-K gains, the
layer's output stays in the safe set on the model, and a state-head model trains, saves
and reloads."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from lnn_drive.data.preprocess import Preprocess
from lnn_drive.models.config import ModelConfig
from lnn_drive.models.policy import Policy
from lnn_drive.models.safety import (
    STATE_KEYS,
    BarrierLayer,
    CBFConfig,
    SafetyFilter,
    cbf_interval,
)

PRE = Preprocess().with_input(78, 200)
FF = {"type": "feedforward", "hidden": 16}


def _policy(seed: int = 0, **heads) -> Policy:
    torch.manual_seed(seed)
    return Policy(
        model_cfg=ModelConfig(controller=FF, **heads),
        preprocess=PRE,
        output_names=["steering"],
        target_mean=[0.001],
        target_std=[0.02],
    )


def _frames(b: int = 2, t: int = 3, seed: int = 0) -> torch.Tensor:
    c, h, w = PRE.output_shape
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (b, t, c, h, w), dtype=torch.uint8, generator=g)


def test_default_model_is_unchanged() -> None:
    """Without ``state_head``/``barrier`` nothing is added: same config, same weights (keys
    and values for the same seed), and the outputs are exactly encoder -> controller; with a
    state head (no barrier) the command is bit-identical to the default model's."""
    assert "state_head" not in ModelConfig().to_dict() and "barrier" not in ModelConfig().to_dict()
    base = _policy()
    assert base.state_head is None and base.barrier is None and not base.has_heads
    assert not any("state" in k or "barrier" in k for k in base.state_dict())
    fr = _frames()
    with torch.no_grad():
        z, hx = base.forward_standardised(fr)
        b, t = fr.shape[:2]
        x = Policy.standardise(fr.reshape(b * t, *fr.shape[2:]))  # (B*T, 3, H, W)
        feats = base.encoder_forward(x).reshape(b, t, -1)  # (B, T, F)
        z_ref, hx_ref = base.controller(feats)
    assert torch.equal(z, z_ref) and torch.equal(hx, hx_ref)
    # the heads are built after encoder and controller: same seed, same shared weights
    headed = _policy(state_head={"hidden": 8})
    shared = base.state_dict()
    for k, v in headed.state_dict().items():
        if k in shared:
            assert torch.equal(v, shared[k]), k
    with torch.no_grad():
        z_h, _ = headed.forward_standardised(fr)
        out = headed.forward_heads(fr)
    assert torch.equal(z_h, z) and out.state is not None and out.state.shape == (2, 3, 3)
    # closed loop: the headed policy exposes its state estimate in physical units
    headed.set_state_stats([0.0, 0.0, 0.0], [0.5, 0.05, 0.01])
    raw = np.random.default_rng(0).integers(0, 256, (2, 78, 200, 3), dtype=np.uint8)
    base.reset(2)
    headed.reset(2)
    assert np.array_equal(base.act_batch(raw), headed.act_batch(raw))
    assert headed.state_estimate is not None and headed.state_estimate.shape == (2, 3)


def test_config_is_validated() -> None:
    with pytest.raises(ValueError, match="model.barrier: needs model.state_head"):
        ModelConfig(barrier={})
    with pytest.raises(ValueError, match="unknown key"):
        _policy(state_head={"width": 3})
    with pytest.raises(ValueError, match="model.barrier: unknown key"):
        _policy(state_head={}, barrier={"p3": 1.0})
    with pytest.raises(ValueError, match="p_min > 0"):
        BarrierLayer(state_size=4, cfg=CBFConfig(), p_min=0.0)
    from lnn_drive.models.inference import FastActor

    with pytest.raises(ValueError, match="BarrierNet layer"):
        FastActor(_policy(state_head={}, barrier={}))


def test_gradients_flow_into_the_coefficient_head() -> None:
    """Where the barrier is active the filtered command depends on the learned gains, so a
    loss on it reaches the gain head; and end to end through the policy."""
    layer = BarrierLayer(state_size=5, cfg=CBFConfig())
    hx = torch.randn(8, 5)
    state = torch.tensor([[1.4, 0.05, 0.0]] * 8)  # near the left limit, heading left
    u, p1, p2 = layer(torch.full((8,), 0.09), state, hx)  # nominal: hard left
    assert torch.all(u < 0.09)  # the barrier is active
    u.sum().backward()
    g = layer.gains[0].weight.grad
    assert g is not None and float(g.abs().sum()) > 0
    assert torch.all(p1 > layer.p_min) and torch.all(p2 < layer.p_min + layer.p_scale)

    pol = _policy(state_head={"hidden": 8}, barrier={"hidden": 4})
    # put the estimate near the left limit so the barrier binds for every frame
    pol.set_state_stats([1.45, 0.1, 0.0], [1e-3, 1e-3, 1e-3])
    with torch.no_grad():
        pol.output_mean.fill_(0.08)  # a policy that always asks for a hard left
    out = pol.forward_heads(_frames())
    assert out.p1 is not None and out.p1.shape == (2, 3)
    assert torch.all(out.z[..., 0] < out.z_nominal[..., 0])
    out.z[..., 0].square().mean().backward()
    assert float(pol.barrier.gains[0].weight.grad.abs().sum()) > 0
    assert float(pol.encoder.conv_layers()[0].weight.grad.abs().sum()) > 0
    # the barrier reads the state estimate detached: only the state loss trains it
    assert pol.state_head[0].weight.grad is None


@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), k_amp=st.floats(0.0, 0.04))
def test_layer_output_is_in_the_safe_set_on_the_model(seed: int, k_amp: float) -> None:
    """With random (untrained) gain heads, random controller states and adversarial
    nominal commands: every filtered command satisfies both HOCBF constraints for the
    gains used and the hard bound, and integrating the bicycle model under it from states
    in the safe set keeps |d| <= d_max."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    cfg = CBFConfig()
    layer = BarrierLayer(state_size=6, cfg=cfg, p_min=0.3, p_scale=1.7).double()
    b, dt, v = 16, 5e-3, cfg.speed
    d = rng.uniform(-cfg.d_max, cfg.d_max, b) * 0.98
    p_lo = layer.p_min  # inside C for the smallest possible gain, hence for any
    s_hi = np.minimum(p_lo * (cfg.d_max - d) / v, 0.3)
    s_lo = np.maximum(-p_lo * (cfg.d_max + d) / v, -0.3)
    psi = np.arcsin(rng.uniform(s_lo, s_hi))
    hx = torch.randn(b, 6, dtype=torch.float64)
    worst = 0.0
    for i in range(int(3.0 / dt)):
        k = k_amp * np.sin(0.3 * i * dt)
        state = torch.tensor(np.stack([d, psi, np.full(b, k)], axis=1), dtype=torch.float64)
        u_nom = torch.tensor(rng.choice([-0.1, 0.1], b) * (1 if i % 300 < 150 else -1))
        if i % 60 == 0:  # the controller state wanders, so the gains change over time
            hx = hx + 0.5 * torch.randn(b, 6, dtype=torch.float64)
        with torch.no_grad():
            u, p1, p2 = layer(u_nom, state, hx)
            lo, hi = cbf_interval(state[:, 0], state[:, 1], state[:, 2], cfg, p1=p1, p2=p2)
        assert torch.all(u.abs() <= cfg.u_max + 1e-12)
        assert torch.all(u >= lo - 1e-9) and torch.all(u <= hi + 1e-9)
        un = u.numpy()
        k_eff = k * np.cos(psi) / (1 - k * (cfg.lane_centre + d))
        d, psi = d + dt * v * np.sin(psi), psi + dt * v * (un - k_eff)
        worst = max(worst, float(np.abs(d).max()))
    assert worst <= cfg.d_max + 1e-3


class _Estimating:
    """A policy stand-in: fixed command, and a state estimate set from outside."""

    state_signals = list(STATE_KEYS)
    model_name = "fake"

    def __init__(self) -> None:
        self.state_estimate = np.zeros((1, 3))

    def reset(self, batch_size: int = 1) -> None:
        pass

    def reset_rows(self, mask) -> None:
        pass

    def act_batch(self, frames: np.ndarray) -> np.ndarray:
        return np.full((len(frames), 1), 0.01, np.float32)


def test_filter_takes_its_state_from_the_policy() -> None:
    pol = _Estimating()
    safe = SafetyFilter(pol, CBFConfig(rate_max=None), state_source="policy")
    frames = np.zeros((1, 4, 4, 3), np.uint8)
    safe.reset(1)
    # info says the car is at the left limit, the policy's estimate says centred: the
    # estimate wins, info is ignored
    safe.observe({"lateral_offset": [1.5], "heading_error": [0.2], "road_curvature": [0.0]})
    assert safe.act_batch(frames)[0, 0] == pytest.approx(0.01)
    pol.state_estimate = np.array([[1.45, 0.1, 0.0]])
    assert safe.act_batch(frames)[0, 0] < 0.0  # near the left limit: steer back right
    assert safe.stats["changed"] == 1 and safe.model_name == "fake+cbf(vision)"
    with pytest.raises(ValueError, match="no state head"):
        SafetyFilter(object(), state_source="policy")
    with pytest.raises(ValueError, match="state_source"):
        SafetyFilter(pol, state_source="gps")


@pytest.mark.slow
def test_state_head_and_barrier_train_save_and_reload(tmp_path) -> None:
    """A short run on logs with state labels: the state loss enters (a weight changes the
    loss), the checkpoint keeps the heads and the label statistics, and the reloaded
    policy acts identically."""
    from lnn_drive.data.dataset import DataConfig
    from lnn_drive.train.bc import TrainConfig, train
    from lnn_drive.train.checkpoint import load_policy

    data = DataConfig(window=4, stride=16)  # data/sample: simulator logs with state labels
    model = ModelConfig(controller=FF, state_head={"hidden": 8}, barrier={"hidden": 4})
    base = dict(max_steps=2, batch_size=2, val_every=2, progress=False, amp=False, seed=0)
    runs = {}
    for w in (0.0, 1.0):
        tc = TrainConfig(**base, state_loss_weight=w)
        runs[w] = train(tc, data=data, model=model, run_dir=tmp_path / f"run{w}")
    import csv

    def first_loss(r):
        with open(r["run_dir"] + "/metrics.csv") as f:
            rows = list(csv.DictReader(f))
        return float(next(x["train/loss"] for x in rows if x.get("train/loss")))

    assert first_loss(runs[1.0]) > first_loss(runs[0.0])
    pol = load_policy(runs[1.0]["best_checkpoint"])
    assert pol.barrier is not None and pol.output_names == ["steering"]
    assert not torch.equal(pol.state_std, torch.ones(3))  # label statistics were kept
    raw = np.random.default_rng(1).integers(0, 256, (1, 78, 200, 3), dtype=np.uint8)
    pol2 = load_policy(runs[1.0]["best_checkpoint"])
    pol.reset(1)
    pol2.reset(1)
    assert np.array_equal(pol.act_batch(raw), pol2.act_batch(raw))
    assert pol.state_estimate is not None and np.isfinite(pol.state_estimate).all()
