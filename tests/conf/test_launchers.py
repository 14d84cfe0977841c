"""Hydra launchers and sweepers: every config composes and builds its plugin; a two-job
joblib multirun and a two-trial Optuna search really train (slow)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

from lnn_drive import PROJECT_ROOT

pytest.importorskip("hydra_plugins.hydra_joblib_launcher")
pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
pytest.importorskip("hydra_plugins.hydra_optuna_sweeper")

CONF = str(PROJECT_ROOT / "conf")
TINY = [
    "data.window=4", "data.stride=2", "data.batch_size=2", "data.val_fraction=0.25",
    "data.preprocess.height=24", "data.preprocess.width=64",
    "train.val_every=2", "train.progress=false", "train.threads=1", "model=feedforward",
]  # fmt: skip


def _hydra_cfg(override: str):
    with initialize_config_dir(version_base="1.3", config_dir=CONF):
        return compose("train", overrides=[override], return_hydra_config=True).hydra


@pytest.mark.parametrize(
    ("override", "target"),
    [
        ("hydra/launcher=joblib", "JoblibLauncher"),
        ("hydra/launcher=submitit_slurm", "SlurmLauncher"),
        ("hydra/launcher=submitit_local", "LocalLauncher"),
    ],
)
def test_launcher_configs_build_their_plugin(override: str, target: str) -> None:
    h = _hydra_cfg(override)
    launcher = instantiate(h.launcher, _convert_="partial") if "joblib" in override else None
    assert h.launcher._target_.endswith(target)
    if launcher is not None:
        assert type(launcher).__name__ == target
    if "slurm" in override:
        assert h.launcher.timeout_min == 120 and h.launcher.nodes == 1


def test_optuna_sweeper_config_builds() -> None:
    h = _hydra_cfg("hydra/sweeper=optuna_tpe")
    assert h.sweeper.direction == "minimize" and h.sweeper.sampler.seed == 0
    assert set(h.sweeper.params) == {"train.lr", "train.weight_decay", "data.window"}
    sweeper = instantiate(h.sweeper, _convert_="partial")
    assert type(sweeper).__name__ == "OptunaSweeper"


def _run(args: list[str], tmp_path: Path, make_dataset) -> subprocess.CompletedProcess:
    root = make_dataset((24, 20, 28, 20), h=24, w=64)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env["PYTHONPATH"] = os.pathsep.join([str(PROJECT_ROOT), env.get("PYTHONPATH", "")])
    cmd = [
        sys.executable, str(PROJECT_ROOT / "scripts" / "train.py"), "-m", *args,
        f"hydra.sweep.dir={tmp_path / 'sweep'}", f"paths.cache_dir={tmp_path / 'cache'}",
        f"data.roots=[{root}]", *TINY,
    ]  # fmt: skip
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=500)


@pytest.mark.slow  # ~30-90 s on 2 shared cores: two job processes, each importing torch
def test_joblib_multirun_runs_two_training_jobs(tmp_path: Path, make_dataset) -> None:
    proc = _run(["seed=0,1", "hydra/launcher=joblib", "train.max_steps=5"], tmp_path, make_dataset)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = [
        json.loads((tmp_path / "sweep" / str(i) / "result.json").read_text()) for i in (0, 1)
    ]
    assert [r["steps"] for r in results] == [5, 5]
    assert results[0]["val_loss"] != results[1]["val_loss"]  # different seeds, different runs


@pytest.mark.slow  # ~30 s: two trials in one process
def test_optuna_search_minimises_validation_loss(tmp_path: Path, make_dataset) -> None:
    proc = _run(
        ["hydra/sweeper=optuna_tpe", "hydra.sweeper.n_trials=2", "train.max_steps=3"],
        tmp_path,
        make_dataset,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    best = yaml.safe_load((tmp_path / "sweep" / "optimization_results.yaml").read_text())
    # data.window=4 on the command line fixes that parameter, so two are searched
    assert set(best["best_params"]) == {"train.lr", "train.weight_decay"}
    losses = [
        json.loads((tmp_path / "sweep" / str(i) / "result.json").read_text())["val_loss"]
        for i in (0, 1)
    ]
    assert best["best_value"] == pytest.approx(min(losses))
