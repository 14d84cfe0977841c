"""`model-summary`: encoder params, neurons, synapses and effective controller params per model.

lnn-drive model-summary [models=[ncp_ltc,lstm]] [seed=22222]
"""

from __future__ import annotations

import dataclasses

from omegaconf import DictConfig

from lnn_drive.commands.config import model_config_named
from lnn_drive.models.summary import format_table, summarise_config

CONFIG = "model_summary"


def run(cfg: DictConfig) -> int:
    """Print the Markdown table for ``models`` (names of ``conf/model/*.yaml``)."""
    rows = []
    for name in cfg.models:
        model = model_config_named(str(name))
        if cfg.seed is not None and "seed" in model.controller:
            model = dataclasses.replace(
                model, controller={**model.controller, "seed": int(cfg.seed)}
            )
        rows.append(summarise_config(model, outputs=int(cfg.outputs)))
    print(format_table(rows))
    return 0
