"""`benchmark-drone`: the benchmark's protocol on the drone task: every model on the same
summer expert flights, the same budget, a per-model lr sweep on validation loss, several
training seeds; flown on held-out test scenes in every season and under frame noise.

    lnn-drive benchmark-drone benchmark.results_dir=docs/results/benchmark_drone
    lnn-drive benchmark-drone benchmark.shard=1/2 ...      # one of two machines
    lnn-drive benchmark-drone +experiment=benchmark_drone_quick   # minutes, figures meaningless
"""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from lnn_drive.commands.config import model_config_named, plain, to_dataclass, train_configs
from lnn_drive.envs.drone_collect import DroneCollectConfig
from lnn_drive.envs.drone_config import DroneConfig
from lnn_drive.eval.drone import DroneEvalConfig
from lnn_drive.eval.drone_benchmark import (
    DroneBenchmarkConfig,
    DroneBenchmarkRecipe,
    drone_benchmark,
)

CONFIG = "benchmark_drone"

#: Outputs every drone model must have (the flight commands).
N_TARGETS = 4


def recipe(cfg: DictConfig, bcfg: DroneBenchmarkConfig) -> DroneBenchmarkRecipe:
    """The typed recipe every run shares; each model must drive the four flight commands."""
    tc, data, _ = train_configs(cfg)
    if len(data.targets) != N_TARGETS:
        raise ValueError(
            f"data.targets={list(data.targets)}: the drone benchmark needs the four flight "
            "commands (data=drone)"
        )
    models = {m: model_config_named(m) for m in bcfg.models}
    for m, mc in models.items():
        ctrl = mc.controller
        motor = (ctrl.get if isinstance(ctrl, dict) else ctrl.__dict__.get)("motor_neurons")
        if motor is not None and motor != N_TARGETS:
            raise ValueError(
                f"benchmark.models: {m} has {motor} motor neurons, the drone needs "
                f"{N_TARGETS} (use its _drone config, e.g. ncp_cfc_drone)"
            )
    return DroneBenchmarkRecipe(
        models=models,
        train=tc,
        data=data,
        collect=to_dataclass(DroneCollectConfig, cfg.collect, where="collect."),
        env=DroneConfig.from_mapping(plain(cfg.env)),
        eval=to_dataclass(DroneEvalConfig, cfg.eval, where="eval."),
    )


def run(cfg: DictConfig) -> int:
    """Run (or resume) the drone benchmark and write its report."""
    bcfg = to_dataclass(DroneBenchmarkConfig, cfg.benchmark, where="benchmark.")
    drone_benchmark(bcfg, recipe(cfg, bcfg), out_dir=Path(cfg.out_dir), command=str(cfg.command))
    return 0
