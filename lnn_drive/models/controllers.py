"""Controllers: per-step features (B, T, F) -> per-step outputs (B, T, k) and a state.

Every controller carries its recurrent state as one tensor (B, state_size) (an LSTM
packs ``[h, c]``), so a batched rollout can zero finished rows with one indexed write,
and ``forward(x, hx=None) -> (y, hx)`` is the same call for all of them.

NCP controllers build a fresh ``ncps.wirings.NCP`` from their own arguments (a wiring is
mutated by ``build()``; ``NCP.get_config()`` does not round-trip), so the arguments in the
config/checkpoint are the whole description of the wiring.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from ncps.torch import LTC, CfC
from ncps.wirings import NCP
from torch import nn

#: The paper's wiring (32 sensory inputs come from the encoder).
PAPER_WIRING: dict[str, int] = dict(
    inter_neurons=12,
    command_neurons=6,
    motor_neurons=1,
    sensory_fanout=6,
    inter_fanout=4,
    recurrent_command_synapses=6,
    motor_fanin=6,
)


def make_ncp_wiring(
    *,
    inter_neurons: int,
    command_neurons: int,
    motor_neurons: int,
    sensory_fanout: int,
    inter_fanout: int,
    recurrent_command_synapses: int,
    motor_fanin: int,
    seed: int,
    in_features: int | None = None,
) -> NCP:
    """A fresh NCP wiring, built for ``in_features`` sensory inputs when given."""
    try:
        wiring = NCP(
            inter_neurons=int(inter_neurons),
            command_neurons=int(command_neurons),
            motor_neurons=int(motor_neurons),
            sensory_fanout=int(sensory_fanout),
            inter_fanout=int(inter_fanout),
            recurrent_command_synapses=int(recurrent_command_synapses),
            motor_fanin=int(motor_fanin),
            seed=int(seed),
        )
    except ValueError as e:
        raise ValueError(f"model.controller wiring: {e}") from e
    if in_features is not None:
        wiring.build(int(in_features))
    return wiring


def _tracing() -> bool:
    """Whether a graph is being captured (``jit.trace`` for ``FastActor``, ``torch.export``
    for ONNX): those keep ncps's per-layer graph, which their own rewrites fuse for T = 1
    (``deploy/simplify.py``: one Gemm per layer)."""
    return bool(
        torch.jit.is_tracing() or torch.compiler.is_compiling() or torch.onnx.is_in_onnx_export()
    )


def _stacked_gates(layer: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    """One ncps ``CfCCell`` (mode ``default``) as one weight (3n, in + n) and bias (3n,):
    rows ``[ff1 (masked), ff2 (masked), time_a + time_b]`` (``ts`` is 1, so the time gate's
    pre-activation is ``time_a(x) + time_b(x)``)."""
    mask = layer.sparsity_mask
    w1, w2 = layer.ff1.weight, layer.ff2.weight
    if mask is not None:
        w1, w2 = w1 * mask, w2 * mask
    weight = torch.cat([w1, w2, layer.time_a.weight + layer.time_b.weight], 0)
    bias = torch.cat([layer.ff1.bias, layer.ff2.bias, layer.time_a.bias + layer.time_b.bias])
    return weight, bias


def wired_cfc_forward(
    cell: nn.Module, x: torch.Tensor, hx: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """The forward of an ncps ``WiredCfCCell`` (mode ``default``, unit time spans) over a
    sequence, the same function as ``ncps.torch.CfC(x, hx)`` with fewer operations.

    ncps steps each layer's four masked ``nn.Linear`` s (re-masking the weights at every
    step) on a concatenated ``[input, state]``. Here the masked weights are stacked once
    per call: the sensory part of the first layer is one matmul over all T steps, the
    recurrent parts of every layer are one matmul per step (a block-diagonal weight on
    the whole state), and each later layer adds one small matmul of the layer before it.
    The parameters and state layout (``[inter, command, motor]``) are ncps's own, so
    checkpoints are unchanged.

    Args:
        cell: ``CfC(...).rnn_cell`` built from an NCP wiring.
        x: Inputs (B, T, F) (float32).
        hx: State (B, units).

    Returns:
        Motor outputs (B, T, motor) and the final state (B, units).
    """
    layers = cell._layers
    sizes = [layer.hidden_size for layer in layers]
    gates = [_stacked_gates(layer) for layer in layers]
    ins = [layer.input_size for layer in layers]
    # (units, 3 * units): layer l's state -> its own gate block
    rec_w = torch.block_diag(*[w[:, i:].T for (w, _), i in zip(gates, ins, strict=True)])
    rec_b = torch.cat([torch.zeros_like(gates[0][1])] + [b for _, b in gates[1:]])
    w0, b0 = gates[0]
    pre0 = torch.addmm(b0, x.reshape(-1, x.shape[-1]), w0[:, : ins[0]].T)
    pre0 = pre0.reshape(x.shape[0], x.shape[1], -1)  # (B, T, 3 * n_0)
    ff_w = [w[:, :i].T for (w, _), i in zip(gates[1:], ins[1:], strict=True)]
    splits = [3 * n for n in sizes]
    outs = []
    for t in range(x.shape[1]):
        rec = torch.addmm(rec_b, hx, rec_w).split(splits, 1)  # per layer (B, 3 * n_l)
        states = []
        h = None
        for j, n in enumerate(sizes):
            z = pre0[:, t] + rec[0] if j == 0 else torch.addmm(rec[j], h, ff_w[j - 1])
            ff = torch.tanh(z[:, : 2 * n])
            gate = torch.sigmoid(z[:, 2 * n :])
            h = torch.lerp(ff[:, :n], ff[:, n:], gate)  # ff1 * (1 - gate) + gate * ff2
            states.append(h)
        hx = torch.cat(states, 1)
        outs.append(h)
    return torch.stack(outs, 1), hx


class Controller(nn.Module):
    """Base class. Subclasses set ``state_size``, ``in_features``, ``out_features``."""

    state_size: int
    in_features: int
    out_features: int

    def initial_state(self, batch: int, device: torch.device | None = None) -> torch.Tensor:
        """Zero state (batch, state_size)."""
        return torch.zeros(batch, self.state_size, device=device)

    def neuron_groups(self) -> dict[str, list[int]]:
        """State indices per neuron group (inter, command, motor) where meaningful."""
        return {}

    def wiring_stats(self) -> dict[str, int]:
        """Neurons and synapses (sensory->neuron and neuron->neuron) for summaries."""
        return {"neurons": self.state_size, "synapses": 0}

    def effective_parameters(self) -> int:
        """Trainable parameters, counting masked-out (structurally zero) entries as absent."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)

    def after_step(self) -> None:
        """Called after every optimiser step (parameter constraints)."""

    def _check(self, x: torch.Tensor, hx: torch.Tensor | None) -> torch.Tensor:
        if x.dim() != 3 or x.shape[-1] != self.in_features:
            raise ValueError(
                f"{type(self).__name__}: expected features (B, T, {self.in_features}), got {tuple(x.shape)}"
            )
        if hx is None:
            return self.initial_state(x.shape[0], x.device)
        if hx.shape != (x.shape[0], self.state_size):
            raise ValueError(
                f"{type(self).__name__}: expected state ({x.shape[0]}, {self.state_size}), got {tuple(hx.shape)}"
            )
        return hx


class NCPController(Controller):
    """The NCP wiring as an LTC (``ncps.torch.LTC``) or CfC (``ncps.torch.CfC``) network.

    Args:
        in_features: Sensory inputs (the encoder's features).
        out_features: k outputs = motor neurons.
        cell: ``ltc`` or ``cfc``.
        seed: Wiring seed.
        ode_unfolds: LTC solver steps per time step (paper: 6).
        cfc_mode: CfC mode (``default``, ``pure``, ``no_gate``).
        **wiring: ``PAPER_WIRING`` keys (defaults: the paper's); ``motor_neurons``
            defaults to, and must equal, ``out_features``.
    """

    def __init__(
        self,
        *,
        in_features: int,
        out_features: int,
        cell: str = "ltc",
        seed: int = 1,
        ode_unfolds: int = 6,
        cfc_mode: str = "default",
        **wiring: int,
    ) -> None:
        super().__init__()
        args = {**PAPER_WIRING, "motor_neurons": None, **wiring}
        if args["motor_neurons"] is None:
            args["motor_neurons"] = out_features
        if int(args["motor_neurons"]) != out_features:
            raise ValueError(
                f"model.controller.motor_neurons={args['motor_neurons']} must equal the number of "
                f"outputs ({out_features})"
            )
        unknown = set(args) - set(PAPER_WIRING)
        if unknown:
            raise ValueError(f"model.controller: unknown wiring argument(s) {sorted(unknown)}")
        self.wiring_args = {k: int(v) for k, v in args.items()}
        self.seed = int(seed)
        self.cell = cell
        self.in_features, self.out_features = int(in_features), int(out_features)
        # Unbuilt: the ncps layer builds it exactly once (a second build() adds synapses).
        wiring = make_ncp_wiring(**self.wiring_args, seed=self.seed)
        self.wiring = wiring
        if cell == "ltc":
            self.rnn = LTC(in_features, wiring, batch_first=True, ode_unfolds=int(ode_unfolds))
        elif cell == "cfc":
            self.rnn = CfC(in_features, wiring, batch_first=True, mode=cfc_mode)
            # A wired CfC reads its motor neurons' states directly (ncps leaves ``fc`` as the
            # identity), and those are tanh-bounded in (-1, 1): standardised steering reaches
            # about 3. An affine readout per motor neuron, as ncps's LTC has
            # (``output_mapping="affine"``), removes the bound (2 parameters per output).
            self.out_scale = nn.Parameter(torch.ones(out_features))
            self.out_bias = nn.Parameter(torch.zeros(out_features))
        else:
            raise ValueError(f"model.controller.cell must be 'ltc' or 'cfc', got {cell!r}")
        self.state_size = wiring.units

    def forward(
        self, x: torch.Tensor, hx: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        hx = self._check(x, hx)
        if self.cell == "cfc" and self.rnn.rnn_cell._layers[0].mode == "default" and not _tracing():
            y, hx = wired_cfc_forward(self.rnn.rnn_cell, x, hx)  # (B, T, k), (B, units)
        else:
            y, hx = self.rnn(x, hx)  # (B, T, k), (B, units)
        if self.cell == "cfc":
            y = y * self.out_scale + self.out_bias
        return y, hx

    def neuron_groups(self) -> dict[str, list[int]]:
        w = self.wiring
        if self.cell == "ltc":  # state index = neuron id: [motor, command, inter]
            return {
                "inter": list(w._inter_neurons),
                "command": list(w._command_neurons),
                "motor": list(w._motor_neurons),
            }
        # WiredCfCCell concatenates its layers' states: [inter, command, motor].
        n_i, n_c, n_m = len(w._inter_neurons), len(w._command_neurons), len(w._motor_neurons)
        return {
            "inter": list(range(n_i)),
            "command": list(range(n_i, n_i + n_c)),
            "motor": list(range(n_i + n_c, n_i + n_c + n_m)),
        }

    def wiring_stats(self) -> dict[str, int]:
        w = self.wiring
        sensory = int(np.abs(w.sensory_adjacency_matrix).sum())
        internal = int(np.abs(w.adjacency_matrix).sum())
        return {
            "neurons": int(w.units),
            "synapses": sensory + internal,
            "sensory_synapses": sensory,
            "internal_synapses": internal,
        }

    def effective_parameters(self) -> int:
        cell = self.rnn.rnn_cell
        if self.cell == "ltc":
            mask = cell.sparsity_mask.detach()
            smask = cell.sensory_sparsity_mask.detach()
            per_synapse = {"sigma", "mu", "w", "erev"}
            per_sensory = {"sensory_sigma", "sensory_mu", "sensory_w", "sensory_erev"}
            total = 0
            for name, p in cell.named_parameters():
                if not p.requires_grad:
                    continue
                if name in per_synapse:
                    total += int(mask.sum())
                elif name in per_sensory:
                    total += int(smask.sum())
                else:
                    total += p.numel()
            return total
        # Wired CfC: ff1/ff2 are masked, time_a/time_b and biases are dense.
        total = 0
        for layer in cell._layers:
            m = layer.sparsity_mask
            for name, p in layer.named_parameters():
                if not p.requires_grad:
                    continue
                if m is not None and name in ("ff1.weight", "ff2.weight"):
                    total += int(m.sum())
                else:
                    total += p.numel()
        return total + self.out_scale.numel() + self.out_bias.numel()  # affine readout


class FullyConnectedCfC(Controller):
    """A fully connected CfC (``ncps.torch.CfC`` with ``units`` neurons, its backbone MLP
    and a linear projection to the k outputs).

    Args:
        units: Neurons.
        backbone_units, backbone_layers: The CfC backbone (ncps defaults: 128, 1).
        cfc_mode: CfC mode.
    """

    def __init__(
        self,
        *,
        in_features: int,
        out_features: int,
        units: int = 64,
        backbone_units: int = 128,
        backbone_layers: int = 1,
        cfc_mode: str = "default",
    ) -> None:
        super().__init__()
        self.in_features, self.out_features = int(in_features), int(out_features)
        self.rnn = CfC(
            in_features,
            int(units),
            proj_size=out_features,
            batch_first=True,
            mode=cfc_mode,
            backbone_units=int(backbone_units),
            backbone_layers=int(backbone_layers),
        )
        self.state_size = int(units)

    def forward(
        self, x: torch.Tensor, hx: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        hx = self._check(x, hx)
        return self.rnn(x, hx)

    def wiring_stats(self) -> dict[str, int]:
        n = self.state_size
        return {"neurons": n, "synapses": self.in_features * n + n * n}


class _TorchRNN(Controller):
    """LSTM / GRU / CT-RNN with ``units`` neurons and a linear head to k outputs."""

    def __init__(self, *, in_features: int, out_features: int, units: int = 64) -> None:
        super().__init__()
        self.in_features, self.out_features, self.units = (
            int(in_features),
            int(out_features),
            int(units),
        )
        self.head = nn.Linear(self.units, self.out_features)

    def wiring_stats(self) -> dict[str, int]:
        n = self.units
        return {"neurons": n, "synapses": self.in_features * n + n * n + n * self.out_features}


class LSTMController(_TorchRNN):
    """LSTM; the state packs ``[h, c]`` as (B, 2*units)."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.rnn = nn.LSTM(self.in_features, self.units, batch_first=True)
        self.state_size = 2 * self.units

    def forward(
        self, x: torch.Tensor, hx: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        hx = self._check(x, hx)
        h, c = hx.unsqueeze(0).chunk(2, dim=-1)  # (1, B, units) each
        out, (h, c) = self.rnn(x, (h.contiguous(), c.contiguous()))  # (B, T, units)
        return self.head(out), torch.cat([h[0], c[0]], dim=-1)


class GRUController(_TorchRNN):
    """GRU with ``units`` neurons."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.rnn = nn.GRU(self.in_features, self.units, batch_first=True)
        self.state_size = self.units

    def forward(
        self, x: torch.Tensor, hx: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        hx = self._check(x, hx)
        out, h = self.rnn(x, hx.unsqueeze(0).contiguous())  # (B, T, units), (1, B, units)
        return self.head(out), h[0]


class CTRNNController(_TorchRNN):
    """Continuous-time RNN: dh/dt = (-h + tanh(W_in x + W h + b)) / tau, explicit Euler
    with ``ode_unfolds`` steps of ``1/ode_unfolds`` per time step, learnable tau > 0."""

    def __init__(self, *, ode_unfolds: int = 6, **kw: Any) -> None:
        super().__init__(**kw)
        self.inp = nn.Linear(self.in_features, self.units)
        self.rec = nn.Linear(self.units, self.units, bias=False)
        self.log_tau = nn.Parameter(torch.zeros(self.units))
        self.ode_unfolds = int(ode_unfolds)
        self.state_size = self.units

    def forward(
        self, x: torch.Tensor, hx: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        h = self._check(x, hx)
        drive = self.inp(x)  # (B, T, units)
        dt = 1.0 / self.ode_unfolds
        inv_tau = torch.exp(-self.log_tau)
        outs = []
        for t in range(x.shape[1]):
            for _ in range(self.ode_unfolds):
                h = h + dt * inv_tau * (-h + torch.tanh(drive[:, t] + self.rec(h)))
            outs.append(h)
        return self.head(torch.stack(outs, dim=1)), h  # (B, T, k), (B, units)


class FeedForward(Controller):
    """No memory: an MLP applied to each step; state of size 0."""

    def __init__(self, *, in_features: int, out_features: int, hidden: int = 64) -> None:
        super().__init__()
        self.in_features, self.out_features = int(in_features), int(out_features)
        self.net = nn.Sequential(
            nn.Linear(self.in_features, int(hidden)),
            nn.ReLU(),
            nn.Linear(int(hidden), self.out_features),
        )
        self.state_size = 0

    def forward(
        self, x: torch.Tensor, hx: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        hx = self._check(x, hx)
        return self.net(x), hx

    def wiring_stats(self) -> dict[str, int]:
        h = self.net[0].out_features
        return {"neurons": h, "synapses": self.in_features * h + h * self.out_features}


def _ncp(cell: str):
    def make(**kw: Any) -> NCPController:
        return NCPController(cell=cell, **kw)

    return make


CONTROLLERS: dict[str, Any] = {
    "ncp_ltc": _ncp("ltc"),
    "ncp_cfc": _ncp("cfc"),
    "cfc": FullyConnectedCfC,
    "lstm": LSTMController,
    "gru": GRUController,
    "ctrnn": CTRNNController,
    "feedforward": FeedForward,
}


def build_controller(cfg: Mapping[str, Any], *, in_features: int, out_features: int) -> Controller:
    """Build a controller from its config (``type`` plus constructor arguments).

    Raises:
        ValueError: unknown ``type`` or argument, naming it.
    """
    cfg = dict(cfg)
    kind = cfg.pop("type", None)
    if kind not in CONTROLLERS:
        raise ValueError(
            f"model.controller.type={kind!r} is unknown; choose one of {sorted(CONTROLLERS)}"
        )
    try:
        return CONTROLLERS[kind](in_features=in_features, out_features=out_features, **cfg)
    except TypeError as e:
        raise ValueError(f"model.controller ({kind}): {e}") from e
