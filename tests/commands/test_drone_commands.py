"""The drone commands: defaults equal the typed configs; each runs end to end from the CLI."""

from __future__ import annotations

import pytest

from lnn_drive.commands import main
from lnn_drive.commands.collect_drone import configs
from lnn_drive.commands.config import JOB_KEYS, compose, plain, to_dataclass
from lnn_drive.commands.eval_drone import OWN_KEYS
from lnn_drive.data.log import DrivingLog
from lnn_drive.envs.drone_collect import DroneCollectConfig
from lnn_drive.envs.drone_config import DroneConfig
from lnn_drive.eval.drone import DroneEvalConfig


def _job(name: str, *overrides: str):
    return compose(name, ["hydra.run.dir=/tmp/unused", *overrides])[0]


def test_drone_defaults_equal_the_cli() -> None:
    ccfg, env = configs(_job("collect_drone", "out=x"))
    assert ccfg == DroneCollectConfig(out="x") and env == DroneConfig()
    c = plain(_job("eval_drone", "checkpoint=x"))
    ecfg = to_dataclass(
        DroneEvalConfig, {k: v for k, v in c.items() if k not in (*JOB_KEYS, *OWN_KEYS)}
    )
    assert ecfg == DroneEvalConfig()


def test_collect_drone_and_expert_check_from_the_cli(tmp_path, capsys) -> None:
    out = tmp_path / "d"
    small = ["env.height=24", "env.width=48", f"hydra.run.dir={tmp_path}/h"]
    assert main(["collect-drone", f"out={out}", "episodes=2", "seasons=[winter]", *small]) == 0
    assert "2 success" in capsys.readouterr().out
    assert len(DrivingLog(out).episodes) == 2
    rc = main(["drone-expert-check", "episodes=2", "seasons=[dusk]", "env.gust_std=0.5", *small])
    text = capsys.readouterr().out
    assert rc == 0 and "| dusk | 2/2 | 0 | 0 | 0 |" in text
    assert main(["collect-drone", f"out={out}", "seasons=[mars]", *small]) == 2
    assert "unknown season 'mars'" in capsys.readouterr().err
    assert main(["eval-drone", f"checkpoint={tmp_path}/none.pt", *small]) == 2
    assert "not found" in capsys.readouterr().err


@pytest.mark.slow
def test_drone_demo_end_to_end_shrunk(tmp_path, capsys) -> None:
    out = tmp_path / "demo"
    rc = main(
        [
            "demo-drone",
            f"out_dir={out}",
            f"hydra.run.dir={tmp_path}/h",
            f"paths.cache_dir={tmp_path}/cache",
            "env.height=24",
            "env.width=48",
            "data.preprocess.height=24",
            "data.preprocess.width=48",
            "data.window=4",
            "data.stride=4",
            "data.batch_size=2",
            "collect.episodes=3",
            "+collect.steps=30",
            "train.max_minutes=null",
            "train.max_steps=2",
            "train.val_every=2",
            "train.progress=false",
            "eval.episodes=2",
            "eval.seasons=[summer,winter]",
            "eval.batch=2",
            "demo.train_procs=1",
            "demo.threads=1",
            "env.max_episode_steps=20",
        ]
    )
    assert rc == 0, capsys.readouterr().err
    report = (out / "report.md").read_text()
    assert "In distribution (summer, 2 held-out scenes)" in report and "| winter | 2 |" in report
    assert (out / "flight.mp4").stat().st_size > 0 and (out / "eval" / "paths.png").is_file()
