"""A policy on an adapted external environment (CarRacing-v3) through the commands: DAgger
rounds drive the adapter's expert/learner mixture and label every visited frame with the
expert's outputs in the expert logs' columns, fine-tuning a behaviour-cloned checkpoint;
``carracing-evaluate`` drives it and writes the saliency video."""

from __future__ import annotations

import json

import cv2
import pytest

pytest.importorskip("Box2D")

from lnn_drive.commands import main  # noqa: E402
from lnn_drive.data.log import DrivingLog  # noqa: E402

COMMON = [
    "+experiment=carracing",
    "data.window=8",
    "data.stride=4",
    "train.max_steps=2",
    "train.max_minutes=null",
    "train.val_every=1",
    "train.progress=false",
    "train.device=cpu",
]


@pytest.fixture(scope="module")
def bc(tmp_path_factory):
    """Two 40-step expert logs and a 2-step behaviour-cloned checkpoint."""
    tmp = tmp_path_factory.mktemp("cr")
    logs = tmp / "logs"
    short = ["env.max_episode_steps=40", f"hydra.run.dir={tmp}/h0"]
    assert main(["carracing-collect", f"out={logs}", "episodes=2", *short]) == 0
    assert main(["train", *COMMON, f"data.roots=[{logs}]", f"hydra.run.dir={tmp}/bc"]) == 0
    return logs, tmp / "bc" / "checkpoints" / "best.pt"


def test_carracing_dagger_fine_tunes_from_the_command(bc, tmp_path, capsys) -> None:
    logs, ckpt = bc
    capsys.readouterr()
    args = [
        *COMMON,
        f"data.roots=[{logs}]",
        "env.max_episode_steps=30",
        "dagger.rounds=1",
        "dagger.episodes_per_round=1",
        "dagger.steps_per_episode=30",
        "dagger.beta0=0.5",
        f"init_checkpoint={ckpt}",
        f"hydra.run.dir={tmp_path}/dg",
    ]
    assert main(["dagger", *args]) == 0, capsys.readouterr().err
    assert "round 1: beta 0.500" in capsys.readouterr().out
    round_log = DrivingLog(tmp_path / "dg" / "dagger_data" / "round_1")
    expert_log = DrivingLog(logs)
    assert round_log.meta.signals == expert_log.meta.signals
    assert round_log.meta.extra["outputs"] == expert_log.meta.extra["outputs"]
    assert len(round_log.signals(round_log.episodes[0])["steering"]) == 30
    summary = json.loads((tmp_path / "dg" / "dagger.json").read_text())
    r1 = summary["rounds"][1]["collect"]
    # beta 0.5: some frames driven by the expert, some by the learner, all labelled
    assert r1["frames"] == 30 and 0.0 < r1["expert_share"] < 1.0
    assert summary["rounds"][0]["best_checkpoint"] == str(ckpt)  # a fine-tune of it


def test_carracing_evaluate_writes_the_saliency_video(bc, tmp_path, capsys) -> None:
    _, ckpt = bc
    video, out = tmp_path / "drive.mp4", tmp_path / "m.json"
    args = [f"checkpoint={ckpt}", "episodes=1", "env.max_episode_steps=25", "video_steps=12"]
    rc = main(
        ["carracing-evaluate", *args, f"video={video}", f"out={out}", f"hydra.run.dir={tmp_path}/h"]
    )
    assert rc == 0, capsys.readouterr().err
    assert "video:" in capsys.readouterr().out
    cap = cv2.VideoCapture(str(video))
    n, w, h = (int(cap.get(p)) for p in (7, 3, 4))  # frame count, width, height
    cap.release()
    # 84 x 96 model frame x 4 over two 18-px output rows
    assert n == 12 and (w, h) == (96 * 4, 84 * 4 + 2 * 18)
    assert json.loads(out.read_text())["summary"]


def test_bad_options_are_one_error_line(bc, tmp_path, capsys) -> None:
    _, ckpt = bc
    rc = main(
        ["dagger", "+experiment=carracing", "data.roots=[x]", "+env.warp=1",
         f"hydra.run.dir={tmp_path}/h"]
    )  # fmt: skip
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and err[0].startswith("error:") and "warp" in err[0]
    rc = main(["dagger", f"init_checkpoint={tmp_path}/none.pt", f"hydra.run.dir={tmp_path}/h"])
    assert rc == 2 and "init_checkpoint" in capsys.readouterr().err
    for bad in (f"video={tmp_path}/v.avi", f"video={tmp_path}/no/v.mp4", "video_steps=0"):
        rc = main(["carracing-evaluate", f"checkpoint={ckpt}", bad, f"hydra.run.dir={tmp_path}/h"])
        assert rc == 2 and capsys.readouterr().err.startswith("error:"), bad
    assert not list(tmp_path.glob("*.mp4")) and not (tmp_path / "no").exists()


def test_demo_carracing_runs_every_stage(tmp_path, capsys) -> None:
    args = [
        f"out_dir={tmp_path / 'demo'}",
        f"hydra.run.dir={tmp_path / 'h'}",
        "collect.episodes=2",
        "env.max_episode_steps=40",
        "data.window=8",
        "data.stride=4",
        "train.max_steps=2",
        "train.max_minutes=null",
        "train.val_every=1",
        "train.progress=false",
        "dagger.rounds=1",
        "dagger.episodes_per_round=1",
        "dagger.steps_per_episode=20",
        "demo.dagger_steps=2",
        "demo.train_procs=1",
        "demo.video_steps=10",
        "eval.episodes=1",
    ]
    assert main(["demo-carracing", *args]) == 0, capsys.readouterr().err
    out = tmp_path / "demo"
    report = (out / "report.md").read_text()
    for cond in ("clean", "domain_randomize", "noise=0.1"):
        assert f"| {cond} | 1 |" in report
    assert "(solved at 900: NOT met)" in report
    summary = json.loads((out / "demo.json").read_text())
    assert len(summary["dagger_rounds"]) == 2 and summary["solved"] is False
    assert (out / "drive.mp4").stat().st_size > 0
    assert (out / "dagger" / "dagger_data" / "round_1" / "dataset.json").is_file()
    rc = main(["demo-carracing", *args[:2], "demo.dagger_steps=0"])
    assert rc == 2 and "dagger_steps" in capsys.readouterr().err
