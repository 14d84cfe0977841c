"""One source of defaults: the typed configs' defaults are what the CLI composes, so the
Python API trains, collects, evaluates and benchmarks the CLI's recipe."""

from __future__ import annotations

import dataclasses

import pytest

from lnn_drive.commands.collect import collect_config, configs
from lnn_drive.commands.config import (
    compose,
    env_config,
    eval_config,
    model_config,
    model_config_named,
    to_dataclass,
    train_configs,
)
from lnn_drive.commands.demo import DemoConfig
from lnn_drive.data import DataConfig
from lnn_drive.envs.collect import CollectConfig
from lnn_drive.envs.config import EnvConfig
from lnn_drive.eval.benchmark import BenchmarkConfig
from lnn_drive.eval.evaluate import EvalConfig
from lnn_drive.explain.pipeline import SaliencyConfig
from lnn_drive.models.config import ModelConfig
from lnn_drive.train import TrainConfig
from lnn_drive.train.dagger import DaggerConfig


def _job(name: str, *overrides: str):
    return compose(name, ["hydra.run.dir=/tmp/unused", *overrides])[0]


def test_train_data_model_defaults_equal_the_cli() -> None:
    tc, data, model = train_configs(_job("train"))
    assert tc == TrainConfig()
    assert data == DataConfig()
    assert model == ModelConfig()


def test_eval_env_collect_dagger_saliency_benchmark_defaults_equal_the_cli() -> None:
    assert eval_config(_job("evaluate", "checkpoint=x").eval) == EvalConfig()
    assert env_config(_job("evaluate", "checkpoint=x").env) == EnvConfig()
    ccfg, env = configs(_job("collect", "out=x"))
    assert ccfg == CollectConfig(out="x") and env == EnvConfig()
    assert to_dataclass(DaggerConfig, _job("dagger").dagger) == DaggerConfig()
    assert to_dataclass(SaliencyConfig, _job("saliency", "checkpoints=[x]").saliency) == (
        SaliencyConfig()
    )
    from lnn_drive.explain.seeds import SeedsConfig

    assert to_dataclass(SeedsConfig, _job("saliency_seeds").seeds) == SeedsConfig()
    bench = _job("benchmark")
    assert to_dataclass(BenchmarkConfig, bench.benchmark) == BenchmarkConfig()


@pytest.mark.parametrize("name", ["demo", "benchmark"])
def test_experiment_sections_start_from_the_typed_defaults(name: str) -> None:
    """Without the experiment, demo and benchmark compose the plain typed defaults, so
    conf/experiment/<name>.yaml is exactly what the recipe changes."""
    job = compose(name, ["hydra.run.dir=/tmp/unused", "~experiment"])[0]
    assert collect_config(job.collect, out="x") == CollectConfig(out="x")
    assert train_configs(job)[0] == TrainConfig()
    if name == "demo":
        assert to_dataclass(DemoConfig, job.demo) == DemoConfig()


def test_experiments_change_only_what_they_name() -> None:
    demo = _job("demo")
    assert collect_config(demo.collect, out="x") == CollectConfig(
        out="x", episodes=36, steps=600, dart_std=0.05
    )
    assert train_configs(demo)[0] == TrainConfig(max_minutes=9.0)
    assert eval_config(demo.eval) == EvalConfig(distance_km=5.0, video_steps=450)
    # `train +experiment=demo` trains the demo's recipe
    assert train_configs(_job("train", "+experiment=demo")) == train_configs(demo)
    bench = _job("benchmark")
    tc = train_configs(bench)[0]
    assert tc == TrainConfig(max_steps=200, val_every=50, progress=False)
    assert train_configs(_job("train", "+experiment=benchmark"))[0] == tc


@pytest.mark.parametrize(
    "model", ["ncp_ltc", "ncp_cfc", "lstm", "gru", "ctrnn", "cfc", "feedforward"]
)
def test_model_group_equals_its_file(model: str) -> None:
    assert model_config(_job("train", f"model={model}").model) == model_config_named(model)
    assert dataclasses.asdict(model_config_named(model))["name"] == model


@pytest.mark.parametrize(
    ("name", "required"),
    [("import_udacity", ["log_dir=x"]), ("import_video", ["video=x", "controls=y"])],
)
def test_importer_defaults_equal_the_cli(name: str, required: list[str]) -> None:
    from lnn_drive.data.importers import UdacityImportConfig, VideoImportConfig

    cls = {"import_udacity": UdacityImportConfig, "import_video": VideoImportConfig}[name]
    got = to_dataclass(cls, _job(name, *required), ignore=("paths", "task_name"))
    for f in dataclasses.fields(cls):
        if f.default is not dataclasses.MISSING:
            assert getattr(got, f.name) == f.default, f.name
        elif f.default_factory is not dataclasses.MISSING:
            assert getattr(got, f.name) == f.default_factory(), f.name


def test_export_defaults_equal_the_cli() -> None:
    from lnn_drive.commands.export import export_config
    from lnn_drive.deploy.export import ExportConfig

    ecfg = export_config(_job("export", "checkpoint=x"))
    assert dataclasses.replace(ecfg, out_dir=ExportConfig().out_dir) == ExportConfig()
