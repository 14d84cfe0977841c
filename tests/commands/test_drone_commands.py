"""The drone commands: defaults equal the typed configs; each runs end to end from the CLI."""

from __future__ import annotations

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
