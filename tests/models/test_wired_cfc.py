"""The stacked-matmul forward of the wired CfC against ncps's own."""

from __future__ import annotations

import pytest
import torch

from lnn_drive.models.controllers import build_controller, wired_cfc_forward


def _controller(seed: int = 1, **wiring: int):
    torch.manual_seed(seed)
    return build_controller(
        {"type": "ncp_cfc", "seed": seed, **wiring}, in_features=32, out_features=1
    )


@pytest.mark.parametrize("seed", [1, 7])
def test_wired_cfc_forward_matches_ncps_outputs_state_and_gradients(seed: int) -> None:
    ctrl = _controller(seed)
    cell = ctrl.rnn.rnn_cell
    # non-trivial biases (ncps initialises them to 0), so a bias mix-up would show
    for p in ctrl.parameters():
        if p.requires_grad and p.dim() == 1:
            torch.nn.init.uniform_(p, -0.5, 0.5)
    x = torch.randn(3, 10, 32, requires_grad=True)
    hx = torch.randn(3, ctrl.state_size)
    params = [p for p in ctrl.rnn.parameters() if p.requires_grad]

    y_ref, h_ref = ctrl.rnn(x, hx)  # ncps
    y, h = wired_cfc_forward(cell, x, hx)
    assert y.shape == y_ref.shape == (3, 10, 1)
    assert h.shape == h_ref.shape == (3, ctrl.state_size)
    torch.testing.assert_close(y, y_ref, rtol=0, atol=1e-6)
    torch.testing.assert_close(h, h_ref, rtol=0, atol=1e-6)

    w = torch.randn(3, 10, 1)
    g_ref = torch.autograd.grad((y_ref * w).sum() + h_ref.sum(), [x, *params])
    g = torch.autograd.grad((y * w).sum() + h.sum(), [x, *params])
    for a, b in zip(g, g_ref, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    # masked-out synapses get no gradient, as in ncps
    for layer in cell._layers:
        (gw,) = torch.autograd.grad(wired_cfc_forward(cell, x, hx)[0].sum(), [layer.ff1.weight])
        assert torch.all(gw[layer.sparsity_mask == 0] == 0)


def test_controller_uses_the_fast_forward_with_the_same_weights_and_readout() -> None:
    ctrl = _controller()
    x = torch.randn(2, 5, 32)
    y, h = ctrl(x)
    y_ref, h_ref = ctrl.rnn(x, ctrl.initial_state(2))
    torch.testing.assert_close(y, y_ref * ctrl.out_scale + ctrl.out_bias, rtol=0, atol=1e-6)
    torch.testing.assert_close(h, h_ref, rtol=0, atol=1e-6)
    # the state dict is ncps's own (checkpoints are unchanged)
    assert any(k.startswith("rnn.rnn_cell.layer_0.ff1") for k in ctrl.state_dict())


def test_controller_stays_float32_under_bf16_autocast() -> None:
    from lnn_drive.data import Preprocess
    from lnn_drive.models import Policy

    torch.manual_seed(0)
    policy = Policy(
        model_cfg={
            "name": "t",
            "encoder": {"type": "conv_head"},
            "controller": {"type": "ncp_cfc"},
        },
        preprocess=Preprocess().with_input(78, 200),
        output_names=["steering"],
    )
    frames = torch.randint(0, 255, (1, 3, 3, 78, 200), dtype=torch.uint8)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        z, hx = policy.forward_standardised(frames)
    assert z.dtype == torch.float32 and hx.dtype == torch.float32


def test_traced_controller_keeps_the_ncps_graph_and_the_same_outputs(monkeypatch) -> None:
    import lnn_drive.models.controllers as controllers

    ctrl = _controller()
    x, hx = torch.randn(2, 1, 32), torch.randn(2, ctrl.state_size)
    calls: list[int] = []
    fast = controllers.wired_cfc_forward
    monkeypatch.setattr(controllers, "wired_cfc_forward", lambda *a: calls.append(1) or fast(*a))
    with torch.no_grad():
        eager = ctrl(x, hx)
        assert calls == [1]  # eager: the stacked forward
        traced = torch.jit.trace(ctrl, (x, hx), check_trace=False)
        assert calls == [1]  # traced (FastActor, ONNX export): ncps's own graph
        for a, b in zip(traced(x, hx), eager, strict=True):
            torch.testing.assert_close(a, b, rtol=0, atol=1e-6)
