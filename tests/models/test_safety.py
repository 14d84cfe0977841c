"""The CBF lane-keeping filter: forward invariance on the model (property test), the
torch/numpy versions agree and differentiate, and in the simulator the filter removes
every lane departure of a deliberately bad policy."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from lnn_drive.models.safety import CBFConfig, SafetyFilter, cbf_interval, filter_command

CFG = CBFConfig(rate_max=None)


def simulate(
    cfg: CBFConfig, d0, psi0, u_nom_fn, k_road_fn, *, seconds: float, dt: float
) -> np.ndarray:
    """Euler-integrate the Frenet bicycle under the filter; returns d over time (T, B)."""
    d, psi = np.array(d0, float), np.array(psi0, float)
    v, out = cfg.speed, []
    for i in range(int(seconds / dt)):
        t = i * dt
        k = k_road_fn(t)
        u = filter_command(u_nom_fn(t, d, psi), d, psi, k, cfg)
        assert np.all(np.abs(u) <= cfg.u_max + 1e-12)
        k_eff = k * np.cos(psi) / (1 - k * (cfg.lane_centre + d))
        d, psi = d + dt * v * np.sin(psi), psi + dt * v * (u - k_eff)
        out.append(d.copy())
    return np.stack(out)


@settings(max_examples=15, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    p=st.floats(0.3, 2.0),
    k_amp=st.floats(0.0, 0.04),
    k_freq=st.floats(0.0, 0.5),
    adversary=st.sampled_from(["hard_left", "hard_right", "random", "bang"]),
)
def test_forward_invariance_on_the_model(seed, p, k_amp, k_freq, adversary) -> None:
    """From any state in the safe set C = {|d| <= d_max, psi_1 >= 0 for both barriers},
    with any nominal command and road curvature up to the simulator's 0.04 1/m, the filtered
    car never leaves |d| <= d_max."""
    cfg = CBFConfig(p1=p, p2=p, rate_max=None)
    rng = np.random.default_rng(seed)
    b = 16
    d0 = rng.uniform(-cfg.d_max, cfg.d_max, b) * 0.98
    # heading errors with psi_1 = h' + p1 h >= 0 for both barriers (inside C)
    s_hi = np.minimum(p * (cfg.d_max - d0) / cfg.speed, 0.3)
    s_lo = np.maximum(-p * (cfg.d_max + d0) / cfg.speed, -0.3)
    psi0 = np.arcsin(rng.uniform(s_lo, s_hi))
    signs = rng.choice([-1.0, 1.0], b)
    nominal = {
        "hard_left": lambda t, d, psi: np.full(b, 0.1),
        "hard_right": lambda t, d, psi: np.full(b, -0.1),
        "random": lambda t, d, psi: rng.uniform(-0.1, 0.1, b),
        "bang": lambda t, d, psi: 0.1 * signs * np.sign(np.sin(3 * t) + 1e-9),
    }[adversary]
    phase = rng.uniform(0, 2 * np.pi)
    d = simulate(
        cfg,
        d0,
        psi0,
        nominal,
        lambda t: k_amp * np.sin(k_freq * t + phase),
        seconds=6.0,
        dt=4e-3,
    )
    assert np.abs(d).max() <= cfg.d_max + 1e-3


@given(
    u=st.floats(-1, 1),
    d=st.floats(-3, 3),
    psi=st.floats(-1.2, 1.2),
    k=st.floats(-0.05, 0.05),
    prev=st.floats(-0.1, 0.1),
)
def test_command_stays_within_hard_bounds(u, d, psi, k, prev) -> None:
    cfg = CBFConfig()
    out = filter_command(np.array([u]), np.array([d]), np.array([psi]), np.array([k]), cfg)
    assert abs(out[0]) <= cfg.u_max
    lo, hi = cbf_interval(np.array([d]), np.array([psi]), np.array([k]), cfg)
    assert lo[0] < hi[0]  # the barrier interval is never empty
    if -cfg.u_max <= u <= cfg.u_max and lo[0] <= u <= hi[0]:
        assert out[0] == u  # a safe command passes unchanged
    rated = filter_command(
        np.array([u]),
        np.array([0.0]),
        np.array([0.0]),
        np.array([0.0]),
        cfg,
        u_prev=np.array([prev]),
    )
    lo0, hi0 = cbf_interval(np.array([0.0]), np.array([0.0]), np.array([0.0]), cfg)
    if lo0[0] <= prev - 1 / 30 and prev + 1 / 30 <= hi0[0]:
        assert abs(rated[0] - prev) <= cfg.rate_max * cfg.dt + 1e-12


def test_torch_version_matches_numpy_and_is_differentiable() -> None:
    rng = np.random.default_rng(0)
    u, d = rng.uniform(-0.1, 0.1, 64), rng.uniform(-1.6, 1.6, 64)
    psi, k = rng.uniform(-0.3, 0.3, 64), rng.uniform(-0.04, 0.04, 64)
    ref = filter_command(u, d, psi, k, CFG)
    tu = torch.tensor(u, requires_grad=True)
    p1 = torch.tensor(1.0, dtype=torch.float64, requires_grad=True)
    out = filter_command(
        tu, *(torch.tensor(a) for a in (d, psi, k)), CFG, p1=p1, p2=torch.tensor(1.0)
    )
    np.testing.assert_allclose(out.detach().numpy(), ref, atol=1e-12)
    out.sum().backward()
    changed = np.abs(ref - u) > 1e-12
    assert changed.any() and (~changed).any()
    np.testing.assert_array_equal(tu.grad.numpy(), (~changed).astype(float))
    assert p1.grad is not None and p1.grad.abs() > 0  # gains are learnable


def test_config_is_validated() -> None:
    with pytest.raises(ValueError, match="d_max"):
        CBFConfig(d_max=0)
    with pytest.raises(ValueError, match="rate_max"):
        CBFConfig(rate_max=-1.0)


class BadPolicy:
    """Steers with a left bias and heavy noise, ignoring the camera (seeded)."""

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)

    def reset(self, batch_size: int = 1) -> None:
        self.b = batch_size

    def reset_rows(self, mask: np.ndarray) -> None:
        pass

    def act_batch(self, frames: np.ndarray) -> np.ndarray:
        return (0.02 + 0.06 * self.rng.standard_normal((len(frames), 1))).astype(np.float32)


def test_filter_removes_every_lane_departure_in_the_simulator() -> None:
    from lnn_drive.envs import env_fn
    from lnn_drive.eval.rollout import run_drives

    fn = env_fn({}, height=24, width=48, crash_mode="intervene", max_episode_steps=600)
    kw = dict(seeds=[11, 12, 13], num_envs=3, vector="sync")
    bad = run_drives(BadPolicy(0), fn, **kw)
    safe_policy = SafetyFilter(BadPolicy(0), CBFConfig())
    from lnn_drive.protocols import PolicyProtocol

    assert isinstance(safe_policy, PolicyProtocol)
    safe = run_drives(safe_policy, fn, **kw)
    assert sum(t.interventions for t in bad) >= 3
    assert sum(t.interventions for t in safe) == 0
    assert max(np.abs(t.lateral_offset).max() for t in safe) <= CBFConfig().d_max + 0.05
    assert all(np.abs(t.command).max() <= 0.1 for t in safe)
    assert 0 < safe_policy.stats["changed"] < safe_policy.stats["steps"]
