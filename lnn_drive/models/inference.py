"""Low-latency closed-loop stepping of a trained ``Policy`` (CPU), one frame or a batch.

``FastActor(policy, precision=...)`` compiles the policy once per batch size:

* ``fp32``: the conv head traced, frozen and passed through
  ``torch.jit.optimize_for_inference`` (oneDNN weight prepacking, conv+ReLU fusion,
  channels-last), the controller step traced too.
* ``int8``: the five convolutions statically quantised (FX graph mode, x86/fbgemm
  backend, per-channel weights, activations calibrated on example frames); the per-map
  dense layers and the controller stay fp32.
* ``bf16``: fp32 graph run under bf16 autocast (fast only on CPUs with native bf16).

The step module is traced once; each batch size gets its own frozen (and, for fp32,
inference-optimised) copy of that trace. A ``FastActor`` pickles as that trace
(TorchScript bytes) plus its preprocessing, so a worker process receives a built,
calibrated actor instead of rebuilding it from the eager policy.

Use ``max_action_error`` to check a reduced-precision actor against the fp32 policy on a
frame sequence before trusting it.
"""

from __future__ import annotations

import copy
import io
import warnings
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from lnn_drive.models.policy import Policy

PRECISIONS = ("fp32", "int8", "bf16")


def standardise(frames: torch.Tensor) -> torch.Tensor:
    """:meth:`~lnn_drive.data.Preprocess.standardise` of uint8 frames (B, C, H, W) in
    either memory format, its two passes over each frame's pixels in memory order.

    The reductions of ``Preprocess.standardise`` over (C, H, W) of a channels-last tensor
    (the camera's own layout, what the int8 graph wants) are strided and cost ~2.5x this
    in a batched closed-loop step; here a frame is one contiguous row. Values agree to
    ~1e-6 (float32 summation order).

    Returns:
        float32 frames, standardised, in the memory format of ``frames``.
    """
    x = frames.float()
    b, n = x.shape[0], x[0].numel()
    if x.is_contiguous():
        flat = x.view(b, n)
    elif x.is_contiguous(memory_format=torch.channels_last):
        flat = x.permute(0, 2, 3, 1).view(b, n)  # (B, H*W*C): a frame's pixels in memory order
    else:
        x = x.contiguous()
        flat = x.view(b, n)
    flat.sub_(flat.mean(dim=1, keepdim=True))
    std = torch.linalg.vector_norm(flat, dim=1, keepdim=True).div_(n**0.5)
    flat.div_(std.clamp_min_(1.0 / n**0.5))
    return x


class _Maps(nn.Sequential):
    """The encoder's convolutions as conv + ReLU module pairs: what quantisation rewrites,
    and the form FX fuses into ``QuantizedConvReLU2d`` (with a functional ``torch.relu``
    the int8 graph dequantised, rectified and requantised between every pair of
    convolutions, ~1.4x slower)."""

    def __init__(self, convs: Sequence[nn.Conv2d]) -> None:
        layers: list[nn.Module] = []
        for c in convs:
            layers += [c, nn.ReLU()]
        super().__init__(*layers)


class _Step(nn.Module):
    """Standardised frames (B, 3, H, W) + state (B, S) -> (actions (B, k), state)."""

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
        m = self.maps(x).float()  # (B, M, H5, W5)
        b = m.shape[0]
        if self.has_map_dense:
            flat = m.reshape(b, self.n_maps, -1).transpose(0, 1)  # (M, B, H5*W5)
            f = torch.relu(
                torch.bmm(flat, self.map_weight) + self.map_bias.unsqueeze(1)
            )  # (M, B, K)
            f = f.transpose(0, 1).reshape(b, 1, -1)  # (B, 1, M*K)
        else:
            f = self.dense(m.reshape(b, -1)).unsqueeze(1)  # (B, 1, F)
        z, hx = self.controller(f, hx)  # (B, 1, k)
        return z[:, 0] * self.std + self.mean, hx


class FastActor:
    """A compiled actor with its own recurrent state, for one frame or a batch of B
    parallel episodes (one frozen graph per batch size, made on first use).

    It pickles (as its traced graph, without the eager policy: ``policy`` is ``None`` in
    the copy), so it can be built and checked once and sent to worker processes. It satisfies the closed-loop policy protocol (``reset(batch_size)``, ``reset_rows``,
    ``act_batch``, ``act``, ``preprocess``), so a rollout can use it in place of the
    eager :class:`~lnn_drive.models.Policy`.

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
        if getattr(policy, "barrier", None) is not None:
            raise ValueError(
                "FastActor: the policy has a BarrierNet layer (model.barrier), which the fast "
                "path would drop; act with the Policy itself"
            )
        self.precision = precision
        self.policy = policy
        self.preprocess = policy.preprocess
        self.model_name = policy.model_name
        self.state_size = policy.state_size
        c, h, w = policy.preprocess.output_shape
        self.shape = (c, h, w)
        convs = [copy.deepcopy(cv) for cv in policy.encoder.conv_layers()]
        maps: nn.Module = _Maps(convs).eval()
        if precision == "int8":
            if calibration is None:
                raise ValueError("FastActor(precision='int8') needs calibration frames")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                maps = self._quantise(maps, torch.as_tensor(np.asarray(calibration)))
        else:
            maps = maps.to(memory_format=torch.channels_last)
        self._traced = self._trace(_Step(policy, maps).eval())
        self._graphs: dict[int, torch.jit.ScriptModule] = {}
        #: Largest action difference to the eager policy, where a check measured it
        #: (``lnn_drive.eval.batched.fast_actor``).
        self.max_error: float | None = None
        self.reset()

    def _trace(self, module: nn.Module) -> torch.jit.ScriptModule:
        """``module`` traced once, on a batch of 2 (the graph takes any batch size: its
        reshapes read the batch from the input; a batch of 1 could bake in broadcasts)."""
        x = torch.zeros(2, *self.shape).contiguous(memory_format=torch.channels_last)
        hx = torch.zeros(2, self.state_size)
        with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
            # TorchScript and torch.ao.quantization are deprecated upstream but remain the
            # CPU paths with oneDNN prepacking / fbgemm int8 kernels in this torch version.
            warnings.simplefilter("ignore")
            return torch.jit.trace(module, (x, hx), check_trace=False)

    def __getstate__(self) -> dict:
        state = {k: v for k, v in self.__dict__.items() if k not in ("_traced", "_graphs")}
        state["policy"] = None  # the eager policy stays in the process that built the actor
        buf = io.BytesIO()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # TorchScript, as in _trace
            torch.jit.save(self._traced, buf)
        state["_traced"] = buf.getvalue()
        return state

    def __setstate__(self, state: dict) -> None:
        state = dict(state)
        if state["precision"] == "int8":
            torch.backends.quantized.engine = "x86"  # the packed weights' backend
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            self._traced = torch.jit.load(io.BytesIO(state.pop("_traced")))
        self.__dict__.update(state)
        self._graphs = {}
        self._hx = torch.zeros(self._hx.shape[0], self.state_size)
        self._graph(self._hx.shape[0])

    def _graph(self, batch: int) -> torch.jit.ScriptModule:
        """The frozen graph for ``batch`` frames (frozen and warmed up on first use)."""
        graph = self._graphs.get(batch)
        if graph is not None:
            return graph
        with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
            warnings.simplefilter("ignore")
            graph = torch.jit.freeze(self._traced.eval())
            if self.precision == "fp32":
                graph = torch.jit.optimize_for_inference(graph)
        self._graphs[batch] = graph
        hx = torch.zeros(batch, self.state_size)
        with torch.inference_mode():
            for _ in range(2):  # warm-up: the first calls of a frozen graph specialise it
                self._run(graph, torch.zeros(batch, *self.shape, dtype=torch.uint8), hx)
        return graph

    def _run(
        self, graph: torch.jit.ScriptModule, frames: torch.Tensor, hx: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        x = standardise(frames)  # (B, 3, H, W) float32, the memory format of frames
        # a no-op for frames that are channels-last views of (B, H, W, 3) camera frames
        x = x.contiguous(memory_format=torch.channels_last)
        if self.precision != "bf16":
            return graph(x, hx)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            y, hx = graph(x, hx)
        return y.float(), hx.float()

    @staticmethod
    def _quantise(maps: nn.Module, calibration: torch.Tensor) -> nn.Module:
        import torch.fx.config as fx_config
        from torch.ao.quantization import get_default_qconfig_mapping
        from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx

        torch.backends.quantized.engine = "x86"
        qmap = get_default_qconfig_mapping("x86")
        x = standardise(calibration[:1])
        # FX symbolises a stack trace per traced node by default, and its first use
        # imports torch._dynamo, inductor, sympy and networkx (~1,300 modules, ~2 s): the
        # largest part of building an actor, for debugging metadata nobody reads here
        emit = getattr(fx_config, "do_not_emit_stack_traces", None)
        fx_config.do_not_emit_stack_traces = True
        try:
            prepared = prepare_fx(maps, qmap, example_inputs=(x,))
            with torch.no_grad():
                for i in range(0, len(calibration), 16):
                    prepared(standardise(calibration[i : i + 16]))
            return convert_fx(prepared)
        finally:
            if emit is None:
                del fx_config.do_not_emit_stack_traces
            else:
                fx_config.do_not_emit_stack_traces = emit

    def reset(self, batch_size: int = 1) -> None:
        """Zero the recurrent state for ``batch_size`` parallel episodes (and compile the
        graph for that batch size if it is new)."""
        if int(batch_size) < 1:
            raise ValueError(f"FastActor.reset: batch_size must be >= 1, got {batch_size}")
        self._graph(int(batch_size))
        self._hx = torch.zeros(int(batch_size), self.state_size)

    def reset_rows(self, mask: np.ndarray) -> None:
        """Zero the state of rows whose episode ended. mask: (B,) bool."""
        m = np.asarray(mask)
        if m.dtype != np.bool_ or m.shape != (self._hx.shape[0],):
            raise ValueError(
                f"FastActor.reset_rows: expected a bool mask of shape ({self._hx.shape[0]},), "
                f"got {m.dtype} {m.shape}"
            )
        self._hx = self._hx * torch.from_numpy(~m)[:, None]  # (B, S)

    @torch.inference_mode()
    def step_batch(self, frames_nchw: np.ndarray | torch.Tensor) -> np.ndarray:
        """uint8 (B, 3, H, W) frames in model geometry -> (B, k) actions, carrying the
        state of B episodes (``reset(batch_size=B)`` first)."""
        b = len(frames_nchw)
        if self._hx.shape[0] != b:
            raise ValueError(
                f"FastActor: the state holds {self._hx.shape[0]} episodes, got {b} frames; "
                f"call reset(batch_size={b})"
            )
        x = torch.as_tensor(frames_nchw)
        y, self._hx = self._run(self._graph(b), x, self._hx)
        return y.numpy()

    def step(self, frame_chw: np.ndarray) -> np.ndarray:
        """uint8 (3, H, W) frame in model geometry -> (k,) action, carrying the state."""
        return self.step_batch(frame_chw[None])[0]

    def _is_model_geometry(self, frames: np.ndarray) -> bool:
        """Whether the geometry would only transpose these (B, H, W, 3) frames."""
        pre = self.preprocess
        h, w = frames.shape[1:3]
        return (
            frames.shape[3] == 3
            and (h, w) == (pre.height, pre.width)
            and pre.crop_top == pre.crop_bottom == pre.crop_left == pre.crop_right == 0
            and pre.in_height in (None, h)
            and pre.in_width in (None, w)
        )

    def act_batch(self, frames: np.ndarray) -> np.ndarray:
        """Raw camera frames uint8 (B, H_in, W_in, 3) -> (B, k) actions (runs the geometry)."""
        if not isinstance(frames, np.ndarray) or frames.dtype != np.uint8 or frames.ndim != 4:
            got = getattr(frames, "shape", type(frames).__name__)
            raise ValueError(f"FastActor.act_batch: expected uint8 frames (B, H, W, 3), got {got}")
        if self._is_model_geometry(frames):
            # camera frames already at model size: a (B, 3, H, W) channels-last view of
            # them is what the graph wants, with no transpose copy either way
            return self.step_batch(torch.from_numpy(frames).permute(0, 3, 1, 2))
        return self.step_batch(self.preprocess.geometry_batch(frames))

    def act(self, frame: np.ndarray) -> np.ndarray:
        """Raw camera frame (H_in, W_in, 3) uint8 -> (k,) action (runs the geometry)."""
        return self.step(self.preprocess.geometry(frame))


def max_action_error(actor: FastActor, policy: Policy, frames_chw: np.ndarray) -> float:
    """Largest |actor action - fp32 policy action| over a frame sequence (N, 3, H, W),
    both carrying their own recurrent state from a reset."""
    actor.reset()
    ours = np.stack([actor.step(f) for f in frames_chw])
    with torch.no_grad():
        ref, _ = policy.eval()(torch.from_numpy(np.asarray(frames_chw))[None])  # (1, N, k)
    actor.reset()
    return float(np.abs(ours - ref[0].numpy()).max())
