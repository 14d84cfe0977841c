"""The typed ``model`` config: which encoder and controller a :class:`Policy` is built from."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

#: The NCP paper's 19-neuron wiring as CfC (``conf/model/ncp_cfc.yaml``).
NCP_CFC_CONTROLLER: dict[str, Any] = {
    "type": "ncp_cfc",
    "inter_neurons": 12,
    "command_neurons": 6,
    "motor_neurons": 1,
    "sensory_fanout": 6,
    "inter_fanout": 4,
    "recurrent_command_synapses": 6,
    "motor_fanin": 6,
    "seed": 1,
}


@dataclass(frozen=True, kw_only=True)
class ModelConfig:
    """The ``model`` config group; the defaults are ``conf/model/ncp_cfc.yaml``.

    Attributes:
        name: Display and file name (``conf/model/<name>.yaml``).
        channels_last: Run the conv encoder in channels-last layout.
        encoder: ``{"type": ..., **arguments}`` of the encoder.
        controller: ``{"type": ..., **arguments}`` of the controller (NCP wirings carry
            their arguments and seed: ``NCP.get_config`` does not round-trip).
        state_head: ``None`` (default: no extra output) or ``{"hidden": int}``: a vision
            state head on the encoder features estimating the lateral offset, heading error
            and road curvature (trained with ``train.state_loss_weight``; what
            ``SafetyFilter(state_source="policy")`` and ``barrier`` use).
        barrier: ``None`` (default) or the BarrierNet layer's options (see
            :meth:`lnn_drive.models.safety.BarrierLayer.from_config`): the CBF filter as
            the last layer, class-K gains from the controller state. Needs ``state_head``.
    """

    name: str = "ncp_cfc"
    channels_last: bool = True
    encoder: Mapping[str, Any] = field(
        default_factory=lambda: {"type": "conv_head", "units_per_map": 4}
    )
    controller: Mapping[str, Any] = field(default_factory=lambda: dict(NCP_CFC_CONTROLLER))
    state_head: Mapping[str, Any] | None = None
    barrier: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        for part in ("encoder", "controller"):
            value = getattr(self, part)
            if not isinstance(value, Mapping) or "type" not in value:
                raise ValueError(f"model.{part}: needs a 'type' key, got {value!r}")
        for part in ("state_head", "barrier"):
            value = getattr(self, part)
            if value is not None and not isinstance(value, Mapping):
                raise ValueError(f"model.{part}: must be a mapping or null, got {value!r}")
        if self.barrier is not None and self.state_head is None:
            raise ValueError("model.barrier: needs model.state_head (the state the barrier uses)")

    def to_dict(self) -> dict[str, Any]:
        """Plain data, as stored in checkpoints."""
        return {
            "name": self.name,
            "channels_last": self.channels_last,
            "encoder": dict(self.encoder),
            "controller": dict(self.controller),
            # only when set, so configs (and checkpoints) without them are unchanged
            **({"state_head": dict(self.state_head)} if self.state_head is not None else {}),
            **({"barrier": dict(self.barrier)} if self.barrier is not None else {}),
        }
