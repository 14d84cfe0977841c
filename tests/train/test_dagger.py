"""DAgger: rounds drive the simulator with the expert/learner mixture, log expert labels
through LogWriter, and retrain on the growing data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lnn_drive import PROJECT_ROOT
from lnn_drive.data import DrivingLog
from lnn_drive.train.dagger import DaggerConfig, dagger

SAMPLE = PROJECT_ROOT / "data" / "sample"


def test_dagger_config_validation_and_beta_schedule() -> None:
    c = DaggerConfig(beta0=0.8, beta_decay=0.5)
    assert [c.beta(r) for r in (1, 2, 3)] == [0.8, 0.4, 0.2]
    with pytest.raises(ValueError, match="dagger.beta0"):
        DaggerConfig(beta0=1.5)
    with pytest.raises(ValueError, match="dagger.rounds"):
        DaggerConfig(rounds=-1)


def test_dagger_round_collects_expert_labels_and_retrains(compose_cfg, tmp_path: Path) -> None:
    cfg = compose_cfg(
        "dagger",
        [
            f"data.roots=[{SAMPLE}]",
            "model=feedforward",
            "data.window=4",
            "data.batch_size=4",
            "data.preprocess.height=24",
            "data.preprocess.width=64",
            "train.max_steps=3",
            "train.val_every=3",
            "train.progress=false",
            "train.threads=1",
            "dagger.rounds=1",
            "dagger.episodes_per_round=2",
            "dagger.steps_per_episode=12",
            "dagger.beta0=0.5",
        ],
    )
    seen: list[list[str]] = []
    from lnn_drive.commands.config import env_config, to_dataclass, train_configs
    from lnn_drive.train.bc import train

    def spy(tc, *, data, model, run_dir):
        seen.append([str(r) for r in data.roots])
        return train(tc, data=data, model=model, run_dir=run_dir)

    tc, data, model = train_configs(cfg)
    result = dagger(
        to_dataclass(DaggerConfig, cfg.dagger),
        train=tc,
        data=data,
        model=model,
        env=env_config(cfg.env),
        out_dir=cfg.paths.output_dir,
        train_fn=spy,
    )
    # round 0 trains on the sample only; round 1 on the sample plus its own rollouts
    assert seen[0] == [str(SAMPLE)]
    assert seen[1][0] == str(SAMPLE) and len(seen[1]) == 2
    root = Path(seen[1][1])
    assert root == tmp_path / "run" / "dagger_data" / "round_1"
    log = DrivingLog(root)
    assert len(log) == 2
    col = result["rounds"][1]["collect"]
    assert col["frames"] == 24 and 0.0 < col["expert_share"] < 1.0
    sig = log.signals(log.episodes[0])
    # labels are the expert's clean action; the executed command is the mixture's
    assert np.isfinite(sig["steering"]).all() and np.isfinite(sig["command"]).all()
    assert not np.allclose(sig["steering"], sig["command"])
    assert Path(result["best_checkpoint"]).is_file()
    assert "round_1" in result["best_checkpoint"]
