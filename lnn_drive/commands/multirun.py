"""``-m`` / ``--multirun``: a command swept by Hydra's own multirun machinery, so the
launcher and sweeper plugins (``hydra/launcher=joblib``, ``submitit_slurm``,
``hydra/sweeper=optuna_tpe``; docs/sweeps.md) run its jobs.

Every job runs the command's ``run(cfg)``; a command that can be optimised also defines
``sweep_value(cfg) -> float`` (train: the best validation loss), which a sweeper minimises.
"""

from __future__ import annotations

import sys
from types import ModuleType
from typing import Any


def multirun(command: ModuleType, name: str, overrides: list[str]) -> int:
    """Run ``command`` over the sweep ``overrides`` describe; returns the exit status
    (2 when Hydra refuses the sweep: it has printed why)."""
    import hydra
    from omegaconf import DictConfig

    from lnn_drive.commands.config import CONF_DIR

    value = getattr(command, "sweep_value", None)

    def task(cfg: DictConfig) -> Any:
        return value(cfg) if value is not None else command.run(cfg)

    app = hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name=command.CONFIG)(
        task
    )
    argv = sys.argv
    sys.argv = [f"lnn-drive {name}", "--multirun", *overrides]
    try:
        app()
    except SystemExit as e:  # Hydra reports a bad sweep or override, then exits 1
        code = e.code if isinstance(e.code, int) else 1
        return 2 if code == 1 else code
    finally:
        sys.argv = argv
    return 0
