"""`benchmark`: every controller on the same logs, same budget, several seeds; evaluated
clean, under frame noise and out of distribution; a Markdown report with plots.

    lnn-drive benchmark                      # full run (docs/benchmark.md has the figures)
    lnn-drive benchmark benchmark.models=[ncp_cfc,lstm] benchmark.seeds=[0]

The shared recipe is ``conf/experiment/benchmark.yaml``.
"""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from lnn_drive.commands.collect import collect_config
from lnn_drive.commands.config import (
    env_config,
    eval_config,
    model_config_named,
    to_dataclass,
    train_configs,
)
from lnn_drive.eval.benchmark import BenchmarkConfig, BenchmarkRecipe, benchmark
from lnn_drive.train.dagger import DaggerConfig

CONFIG = "benchmark"


def recipe(cfg: DictConfig, bcfg: BenchmarkConfig) -> BenchmarkRecipe:
    """The typed recipe every run of the benchmark shares."""
    tc, data, _ = train_configs(cfg)
    names = dict.fromkeys([*bcfg.models, *bcfg.dagger_models])
    return BenchmarkRecipe(
        models={m: model_config_named(m) for m in names},
        train=tc,
        data=data,
        dagger=to_dataclass(DaggerConfig, cfg.dagger, where="dagger."),
        collect=collect_config(cfg.collect, out=str(Path(cfg.out_dir) / "data")),
        env=env_config(cfg.env),
        eval=eval_config(cfg.eval),
    )


def run(cfg: DictConfig) -> int:
    """Run (or resume) the benchmark and write its report."""
    bcfg = to_dataclass(BenchmarkConfig, cfg.benchmark, where="benchmark.")
    benchmark(bcfg, recipe(cfg, bcfg), out_dir=Path(cfg.out_dir), command=str(cfg.command))
    return 0
