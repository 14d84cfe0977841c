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
    """

    name: str = "ncp_cfc"
    channels_last: bool = True
    encoder: Mapping[str, Any] = field(
        default_factory=lambda: {"type": "conv_head", "units_per_map": 4}
    )
    controller: Mapping[str, Any] = field(default_factory=lambda: dict(NCP_CFC_CONTROLLER))

    def __post_init__(self) -> None:
        for part in ("encoder", "controller"):
            value = getattr(self, part)
            if not isinstance(value, Mapping) or "type" not in value:
                raise ValueError(f"model.{part}: needs a 'type' key, got {value!r}")

    def to_dict(self) -> dict[str, Any]:
        """Plain data, as stored in checkpoints."""
        return {
            "name": self.name,
            "channels_last": self.channels_last,
            "encoder": dict(self.encoder),
            "controller": dict(self.controller),
        }
