"""Per-model counts: encoder parameters, neurons, synapses, effective controller parameters.

ncps stores sparse wirings as dense tensors times a fixed mask; ``effective`` counts only
the entries the mask lets through (what gradient descent can actually change). The NCP
paper (Lechner, Hasani et al. 2020) reports 1,065 parameters for the NCP and 24,897 for
LSTM-64; ``paper_convention`` reproduces its way of counting:

* NCP (LTC): 4 per synapse (w, sigma, mu, erev) + 3 per neuron (gleak, vleak, cm),
  without ncps's affine input/output mappings (2 per sensory input, 2 per motor neuron).
* LSTM: one bias vector per gate (Keras) instead of PyTorch's two (``b_ih`` + ``b_hh``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from lnn_drive.data.preprocess import Preprocess
from lnn_drive.models.config import ModelConfig
from lnn_drive.models.controllers import LSTMController, NCPController
from lnn_drive.models.policy import Policy


@dataclass(frozen=True, kw_only=True)
class ModelSummary:
    """Counts for one model.

    Attributes:
        model: Model name.
        encoder_params: Trainable encoder parameters.
        neurons: Controller neurons (state units; LSTM: hidden units).
        synapses: Sensory->neuron plus neuron->neuron connections.
        controller_params: Trainable controller parameters, masked entries excluded.
        controller_params_dense: The same counting every stored entry.
        paper_convention: ``controller_params`` counted as the paper does (see module doc).
    """

    model: str
    encoder_params: int
    neurons: int
    synapses: int
    controller_params: int
    controller_params_dense: int
    paper_convention: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def paper_convention_params(policy: Policy) -> int:
    """Controller parameters counted as in the NCP paper (see the module docstring)."""
    c = policy.controller
    eff = c.effective_parameters()
    if isinstance(c, NCPController) and c.cell == "ltc":
        return eff - 2 * c.in_features - 2 * c.out_features
    if isinstance(c, LSTMController):
        return eff - 4 * c.units
    return eff


def summarise(policy: Policy) -> ModelSummary:
    """Counts for a built policy."""
    c = policy.controller
    stats = c.wiring_stats()
    return ModelSummary(
        model=policy.model_name,
        encoder_params=sum(p.numel() for p in policy.encoder.parameters() if p.requires_grad),
        neurons=int(stats["neurons"]),
        synapses=int(stats["synapses"]),
        controller_params=int(c.effective_parameters()),
        controller_params_dense=sum(p.numel() for p in c.parameters() if p.requires_grad),
        paper_convention=int(paper_convention_params(policy)),
    )


def summarise_config(
    model_cfg: ModelConfig | Mapping[str, Any],
    *,
    preprocess: Preprocess | None = None,
    outputs: int = 1,
) -> ModelSummary:
    """Build the model of ``model_cfg`` at the paper's 78x200 input and count it."""
    policy = Policy(
        model_cfg=model_cfg,
        preprocess=preprocess or Preprocess(),
        output_names=[f"y{i}" for i in range(outputs)] if outputs > 1 else ["steering"],
    )
    return summarise(policy)


def format_table(rows: list[ModelSummary]) -> str:
    """A Markdown table of summaries."""
    head = (
        "| model | encoder params | neurons | synapses | controller params (effective) "
        "| dense (stored) | paper convention |\n|---|---:|---:|---:|---:|---:|---:|"
    )
    lines = [
        f"| {r.model} | {r.encoder_params:,} | {r.neurons} | {r.synapses:,} | "
        f"{r.controller_params:,} | {r.controller_params_dense:,} | {r.paper_convention:,} |"
        for r in rows
    ]
    return "\n".join([head, *lines])
