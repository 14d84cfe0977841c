"""VisualBackProp against hand-computed and loop-computed references; input gradients; errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from lnn_drive.explain.saliency import (
    SaliencyError,
    capture_conv_means,
    find_conv_layers,
    input_gradient,
    visual_backprop,
)


def _hand_model() -> nn.Sequential:
    """conv1: 1->1, k3 s2 p1, all-ones; conv2: 1->2, k2 s1 p0, one all-ones channel and one
    all-minus-ones channel (dead after ReLU)."""
    c1 = nn.Conv2d(1, 1, 3, stride=2, padding=1, bias=False)
    c2 = nn.Conv2d(1, 2, 2, stride=1, padding=0, bias=False)
    with torch.no_grad():
        c1.weight.fill_(1.0)
        c2.weight[0].fill_(1.0)
        c2.weight[1].fill_(-1.0)
    return nn.Sequential(c1, nn.ReLU(), c2, nn.ReLU())


def test_vbp_hand_computed() -> None:
    x = torch.arange(1, 10, dtype=torch.float32).view(1, 1, 3, 3)
    # conv1 (pad 1, stride 2) sums 2x2 corners of x: [[12, 16], [24, 28]].
    # conv2 channels: 80 and relu(-80) = 0 -> mean 40 (1x1).
    # Up through conv2 (k2 s1): [[40, 40], [40, 40]]; times conv1 map: [[480, 640], [960, 1120]].
    # Up through conv1 (k3 s2 p1): pixel (i, j) covers rows 2i-1..2i+1, cols 2j-1..2j+1.
    raw = np.array([[480, 1120, 640], [1440, 3200, 1760], [960, 2080, 1120]], dtype=np.float64)
    model = _hand_model()
    got = visual_backprop(model, x, normalise=False)
    np.testing.assert_allclose(got[0].numpy(), raw, rtol=1e-6)
    got = visual_backprop(model, x)
    np.testing.assert_allclose(got[0].numpy(), (raw - 480) / (3200 - 480), atol=1e-6)


def _ref_up(m: np.ndarray, conv: nn.Conv2d, size: tuple[int, int]) -> np.ndarray:
    """Transposed conv with an all-ones kernel, written as the scatter it is."""
    (kh, kw), (sh, sw), (ph, pw) = conv.kernel_size, conv.stride, conv.padding
    out = np.zeros(size)
    for i in range(m.shape[0]):
        for j in range(m.shape[1]):
            for a in range(kh):
                for b in range(kw):
                    r, c = i * sh - ph + a, j * sw - pw + b
                    if 0 <= r < size[0] and 0 <= c < size[1]:
                        out[r, c] += m[i, j]
    return out


def _ref_vbp(model: nn.Sequential, x: torch.Tensor) -> np.ndarray:
    convs = [m for m in model if isinstance(m, nn.Conv2d)]
    maps, h = [], x
    sizes = []
    with torch.no_grad():
        for m in model:
            if isinstance(m, nn.Conv2d):
                sizes.append(tuple(h.shape[2:]))
            h = m(h)
            if isinstance(m, nn.ReLU):
                maps.append(h[0].mean(0).double().numpy())
    mask = maps[-1]
    for lvl in range(len(maps) - 1, 0, -1):
        mask = _ref_up(mask, convs[lvl], maps[lvl - 1].shape) * maps[lvl - 1]
    mask = _ref_up(mask, convs[0], sizes[0])
    return (mask - mask.min()) / (mask.max() - mask.min())


@pytest.mark.parametrize("hw", [(13, 17), (16, 20)])
def test_vbp_matches_loop_reference(hw: tuple[int, int]) -> None:
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 4, 5, stride=2, padding=2),
        nn.ReLU(),
        nn.Conv2d(4, 5, 3, stride=2, padding=1),
        nn.ReLU(),
        nn.Conv2d(5, 3, (3, 2), stride=(1, 2), padding=(1, 0)),
        nn.ReLU(),
    )
    with torch.no_grad():  # positive-leaning weights so no layer is all zero
        for m in model:
            if isinstance(m, nn.Conv2d):
                m.weight.add_(0.05)
    x = torch.rand(3, 3, *hw)
    got = visual_backprop(model, x)
    assert got.shape == (3, *hw)
    for b in range(3):
        np.testing.assert_allclose(got[b].numpy(), _ref_vbp(model, x[b : b + 1]), atol=1e-5)


class _Functional(nn.Module):
    """An encoder with functional ReLUs and a conv_layers() method."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(3, 4, 3, stride=2, padding=1)
        self.b = nn.Conv2d(4, 4, 3, padding=1)

    def conv_layers(self) -> list[nn.Conv2d]:
        return [self.a, self.b]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.b(torch.relu(self.a(x)))).flatten(1).sum(1, keepdim=True)


def test_functional_relu_and_batch_independence() -> None:
    torch.manual_seed(1)
    enc = _Functional()
    x = torch.rand(4, 3, 10, 12)
    means = capture_conv_means(enc, x)
    assert [tuple(m.shape) for m in means] == [(4, 1, 5, 6), (4, 1, 5, 6)]
    assert all(float(m.min()) >= 0 for m in means)  # post-ReLU
    batch = visual_backprop(enc, x)
    single = torch.cat([visual_backprop(enc, x[i : i + 1]) for i in range(4)])
    torch.testing.assert_close(batch, single)
    assert float(batch.min()) >= 0 and float(batch.max()) <= 1
    enc.train()
    visual_backprop(enc, x)
    assert enc.training


def test_relu_after_batchnorm_is_hooked() -> None:
    torch.manual_seed(2)
    model = nn.Sequential(nn.Conv2d(3, 2, 3, padding=1), nn.BatchNorm2d(2), nn.ReLU()).eval()
    with torch.no_grad():
        model[1].running_mean.fill_(5.0)  # shifts everything: BN then ReLU differs from ReLU(conv)
    x = torch.rand(2, 3, 6, 6)
    (m,) = capture_conv_means(model, x)
    with torch.no_grad():
        want = model(x).mean(1, keepdim=True)
    torch.testing.assert_close(m, want)


def test_no_conv_layers_is_an_error() -> None:
    mlp = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 1))
    with pytest.raises(SaliencyError, match="no conv layers"):
        visual_backprop(mlp, torch.rand(2, 3, 8, 8))
    with pytest.raises(SaliencyError, match="no conv layers"):
        find_conv_layers(mlp)


def test_wrong_frames_are_errors() -> None:
    model = _hand_model()
    with pytest.raises(SaliencyError, match=r"expected shape \(B, 1, H, W\)"):
        visual_backprop(model, torch.rand(1, 3, 3))
    with pytest.raises(SaliencyError, match="wrong size"):
        visual_backprop(model, torch.rand(1, 3, 9, 9))
    with pytest.raises(SaliencyError, match="cannot run"):
        visual_backprop(model, torch.rand(1, 1, 1, 1))  # too small for conv2


class _FakePolicy(nn.Module):
    """The Policy surface VisualBackProp uses: encoder.conv_layers(), encoder_forward,
    standardise, preprocess.height/width, forward((B, T, C, H, W)) -> (out, hx)."""

    def __init__(self) -> None:
        super().__init__()
        from lnn_drive.data.preprocess import Preprocess

        self.encoder = _Functional()
        self.preprocess = Preprocess(height=10, width=12)
        self.head = nn.Linear(1, 2)

    def standardise(self, x: torch.Tensor) -> torch.Tensor:
        return self.preprocess.standardise(x)

    def encoder_forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)

    def forward(self, frames: torch.Tensor, hx=None):
        b, t = frames.shape[:2]
        z = self.encoder_forward(self.standardise(frames.flatten(0, 1)))  # (B*T, 1)
        return self.head(z).view(b, t, 2), hx


def test_policy_surface_and_size_check() -> None:
    torch.manual_seed(3)
    pol = _FakePolicy()
    frames = torch.randint(0, 256, (2, 3, 10, 12), dtype=torch.uint8)
    sal = visual_backprop(pol, frames)
    want = visual_backprop(pol.encoder, pol.standardise(frames))
    torch.testing.assert_close(sal, want)
    with pytest.raises(SaliencyError, match=r"expected \(B, 3, 10, 12\)"):
        visual_backprop(pol, torch.zeros(2, 3, 78, 200, dtype=torch.uint8))
    g = input_gradient(pol, frames, output=1)
    assert g.shape == (2, 10, 12) and float(g.max()) == pytest.approx(1.0)
    with pytest.raises(SaliencyError, match="out of range"):
        input_gradient(pol, frames, output=5)


def test_input_gradient_linear_model() -> None:
    lin = nn.Sequential(nn.Flatten(), nn.Linear(2 * 3 * 4, 1, bias=False))
    with torch.no_grad():
        lin[1].weight.copy_(torch.arange(24, dtype=torch.float32).view(1, 24) - 12)
    g = input_gradient(lin, torch.rand(1, 2, 3, 4), normalise=False)
    w = (torch.arange(24, dtype=torch.float32) - 12).view(2, 3, 4).abs().amax(0)
    torch.testing.assert_close(g[0], w)
