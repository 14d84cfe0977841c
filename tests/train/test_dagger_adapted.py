"""DAgger on an adapted external environment (CarRacing-v3): the rounds drive the
adapter's expert/learner mixture, label every visited frame with the expert's outputs in
the expert logs' columns, and the command fine-tunes a behaviour-cloned checkpoint."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("Box2D")

from lnn_drive.commands import main  # noqa: E402
from lnn_drive.data.log import DrivingLog  # noqa: E402


def test_carracing_dagger_fine_tunes_from_the_command(tmp_path, capsys) -> None:
    logs = tmp_path / "logs"
    short = ["env.max_episode_steps=40", f"hydra.run.dir={tmp_path}/h0"]
    assert main(["carracing-collect", f"out={logs}", "episodes=2", *short]) == 0
    common = [
        "+experiment=carracing",
        f"data.roots=[{logs}]",
        "data.window=8",
        "data.stride=4",
        "train.max_steps=2",
        "train.max_minutes=null",
        "train.val_every=1",
        "train.progress=false",
        "train.device=cpu",
        "env.max_episode_steps=30",
    ]
    assert (
        main(
            [
                "train",
                *[c for c in common if not c.startswith("env.")],
                f"hydra.run.dir={tmp_path}/bc",
            ]
        )
        == 0
    )
    capsys.readouterr()
    bc = tmp_path / "bc" / "checkpoints" / "best.pt"
    args = [
        *common,
        "dagger.rounds=1",
        "dagger.episodes_per_round=1",
        "dagger.steps_per_episode=30",
        "dagger.beta0=0.5",
        f"init_checkpoint={bc}",
        f"hydra.run.dir={tmp_path}/dg",
    ]
    assert main(["dagger", *args]) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert "round 1: beta 0.500" in out
    round_log = DrivingLog(tmp_path / "dg" / "dagger_data" / "round_1")
    expert_log = DrivingLog(logs)
    assert round_log.meta.signals == expert_log.meta.signals
    assert round_log.meta.extra["outputs"] == expert_log.meta.extra["outputs"]
    sig = round_log.signals(round_log.episodes[0])
    # labels are the expert's clean outputs; the executed command is the expert's or the
    # learner's, so where the learner drove the two differ
    assert len(sig["steering"]) == 30
    summary = json.loads((tmp_path / "dg" / "dagger.json").read_text())
    r1 = summary["rounds"][1]["collect"]
    assert r1["frames"] == 30 and 0.0 < r1["expert_share"] < 1.0
    assert summary["rounds"][0]["best_checkpoint"] == str(bc)  # a fine-tune of it


def test_dagger_bad_adapted_env_option_is_one_error_line(tmp_path, capsys) -> None:
    rc = main(
        [
            "dagger",
            "+experiment=carracing",
            "data.roots=[x]",
            "+env.warp=1",
            f"hydra.run.dir={tmp_path}/h",
        ]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and err[0].startswith("error:") and "warp" in err[0]
    rc = main(["dagger", f"init_checkpoint={tmp_path}/none.pt", f"hydra.run.dir={tmp_path}/h"])
    assert rc == 2 and "init_checkpoint" in capsys.readouterr().err
