"""Low-latency closed-loop stepping of a trained ``Policy`` (batch 1, CPU).

``FastActor(policy, precision=...)`` compiles the policy once for single frames:

* ``fp32``: the conv head traced, frozen and passed through
  ``torch.jit.optimize_for_inference`` (oneDNN weight prepacking, conv+ReLU fusion,
  channels-last), the controller step traced too.
* ``int8``: the five convolutions statically quantised (FX graph mode, x86/fbgemm
  backend, per-channel weights, activations calibrated on example frames); the per-map
  dense layers and the controller stay fp32.
* ``bf16``: fp32 graph run under bf16 autocast (fast only on CPUs with native bf16).

Use ``max_action_error`` to check a reduced-precision actor against the fp32 policy on a
frame sequence before trusting it.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from lnn_drive.models.policy import Policy

PRECISIONS = ("fp32", "int8", "bf16")


class _Maps(nn.Module):
    """The encoder's convolutions as a plain module (what quantisation rewrites)."""

    def __init__(self, convs: Sequence[nn.Conv2d]) -> None:
        super().__init__()
        self.convs = nn.ModuleList(convs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for c in self.convs:
            x = torch.relu(c(x))
        return x


class _Step(nn.Module):
    """Standardised frame (1, 3, H, W) + state -> (action (1, k), state)."""

    def __init__(self, policy: Policy, maps: nn.Module) -> None:
        super().__init__()
        self.maps = maps
        enc = policy.encoder
        self.has_map_dense = hasattr(enc, "map_weight")
        if self.has_map_dense:
            self.map_weight = nn.Parameter(enc.map_weight.detach().clone(), requires_grad=False)
            self.map_bias = nn.Parameter(enc.map_bias.detach().clone(), requires_grad=False)
            self.n_maps = enc.maps
        else:
            self.dense = copy.deepcopy(enc.dense)
        self.controller = copy.deepcopy(policy.controller)
        self.register_buffer("mean", policy.output_mean.detach().clone())
        self.register_buffer("std", policy.output_std.detach().clone())

    def forward(self, x: torch.Tensor, hx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        m = self.maps(x).float()  # (1, M, H5, W5)
        if self.has_map_dense:
            flat = m.reshape(self.n_maps, -1).unsqueeze(1)  # (M, 1, H5*W5)
            f = torch.relu(
                torch.bmm(flat, self.map_weight) + self.map_bias.unsqueeze(1)
            )  # (M, 1, K)
            f = f.reshape(1, 1, -1)  # (1, 1, M*K)
        else:
            f = self.dense(m.reshape(1, -1)).unsqueeze(1)
        z, hx = self.controller(f, hx)  # (1, 1, k)
        return z[:, 0] * self.std + self.mean, hx


class FastActor:
    """A compiled single-frame actor with its own recurrent state.

    Args:
        policy: A trained policy (left unchanged).
        precision: ``fp32``, ``int8`` or ``bf16``.
        calibration: For ``int8``: uint8 frames (N, 3, H, W) in model geometry used to
            calibrate activation ranges (a few dozen real frames).
    """

    def __init__(
        self,
        policy: Policy,
        *,
        precision: str = "fp32",
        calibration: np.ndarray | torch.Tensor | None = None,
    ) -> None:
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
        self.precision = precision
        self.policy = policy
        self.state_size = policy.state_size
        c, h, w = policy.preprocess.output_shape
        self.shape = (c, h, w)
        convs = [copy.deepcopy(cv) for cv in policy.encoder.conv_layers()]
        maps: nn.Module = _Maps(convs).eval()
        example = torch.zeros(1, c, h, w)
        with warnings.catch_warnings():
            # TorchScript and torch.ao.quantization are deprecated upstream but remain the
            # CPU paths with oneDNN prepacking / fbgemm int8 kernels in this torch version.
            warnings.simplefilter("ignore")
            self._build(policy, maps, example, precision, calibration)
        self.reset()
        for _ in range(2):  # warm-up: the first calls of a frozen graph specialise it
            self.step(np.zeros(self.shape, np.uint8))
        self.reset()

    def _build(self, policy, maps, example, precision, calibration) -> None:
        if precision == "int8":
            if calibration is None:
                raise ValueError("FastActor(precision='int8') needs calibration frames")
            maps = self._quantise(maps, torch.as_tensor(np.asarray(calibration)))
        else:
            maps = maps.to(memory_format=torch.channels_last)
        step = _Step(policy, maps).eval()
        hx = torch.zeros(1, self.state_size)
        with torch.inference_mode(False), torch.no_grad():
            ex = example.contiguous(memory_format=torch.channels_last)
            traced = torch.jit.trace(step, (ex, hx), check_trace=False)
            traced = torch.jit.freeze(traced)
            if precision == "fp32":
                traced = torch.jit.optimize_for_inference(traced)
        self._step = traced

    @staticmethod
    def _quantise(maps: nn.Module, calibration: torch.Tensor) -> nn.Module:
        from torch.ao.quantization import get_default_qconfig_mapping
        from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx

        torch.backends.quantized.engine = "x86"
        qmap = get_default_qconfig_mapping("x86")
        x = Policy.standardise(calibration[:1])
        prepared = prepare_fx(maps, qmap, example_inputs=(x,))
        with torch.no_grad():
            for i in range(0, len(calibration), 16):
                prepared(Policy.standardise(calibration[i : i + 16]))
        return convert_fx(prepared)

    def reset(self, batch_size: int = 1) -> None:
        """Zero the recurrent state (new episode); the traced step runs one episode."""
        if int(batch_size) != 1:
            raise ValueError(f"FastActor runs one episode at a time, got batch_size={batch_size}")
        self._hx = torch.zeros(1, self.state_size)

    def reset_rows(self, mask: np.ndarray) -> None:
        """Zero the state if the (only) episode ended. mask: (1,) bool."""
        if bool(np.asarray(mask).reshape(-1)[0]):
            self.reset()

    @torch.inference_mode()
    def step(self, frame_chw: np.ndarray) -> np.ndarray:
        """uint8 (3, H, W) frame in model geometry -> (k,) action, carrying the state."""
        x = Policy.standardise(torch.from_numpy(frame_chw)[None])  # (1, 3, H, W)
        x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.precision == "bf16"):
            y, self._hx = self._step(x, self._hx)
        return y[0].float().numpy()

    def act(self, frame: np.ndarray) -> np.ndarray:
        """Raw camera frame (H_in, W_in, 3) uint8 -> (k,) action (runs the geometry)."""
        return self.step(self.policy.preprocess.geometry(frame))

    def act_batch(self, frames: np.ndarray) -> np.ndarray:
        """uint8 (1, H_in, W_in, 3) -> (1, k): the project's policy protocol, batch 1."""
        if np.asarray(frames).shape[0] != 1:
            raise ValueError(f"FastActor.act_batch takes one frame, got {np.asarray(frames).shape}")
        return self.act(frames[0])[None]


def max_action_error(actor: FastActor, policy: Policy, frames_chw: np.ndarray) -> float:
    """Largest |actor action - fp32 policy action| over a frame sequence (N, 3, H, W),
    both carrying their own recurrent state from a reset."""
    actor.reset()
    ours = np.stack([actor.step(f) for f in frames_chw])
    with torch.no_grad():
        ref, _ = policy.eval()(torch.from_numpy(np.asarray(frames_chw))[None])  # (1, N, k)
    actor.reset()
    return float(np.abs(ours - ref[0].numpy()).max())
