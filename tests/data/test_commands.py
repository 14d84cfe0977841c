"""The data commands through their real Hydra configs and entry points."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from lnn_drive import PROJECT_ROOT
from lnn_drive.data import DrivingLog
from lnn_drive.data.commands import import_udacity_command, import_video_command, inspect_command
from tests.data.test_importers import make_controls, make_udacity, make_video


def test_inspect_command(make_dataset, compose_cfg, tmp_path: Path, capsys) -> None:
    root = make_dataset((20, 30))
    s = inspect_command(compose_cfg("inspect", [f"root={root}"]))
    assert s["episodes"] == 2 and s["frames"] == 50 and s["validated_frames"]
    assert s["signals"]["steering"]["max"] == pytest.approx(1.029)
    out = capsys.readouterr().out
    assert "episodes  2   frames 50" in out and "steering" in out
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["frames"] == 50
    assert (tmp_path / "run" / "histograms.png").stat().st_size > 1000


def test_import_commands(compose_cfg, tmp_path: Path) -> None:
    log_dir = make_udacity(tmp_path, style="windows")
    s = import_udacity_command(
        compose_cfg("import_udacity", [f"log_dir={log_dir}", "cameras=[center,left]"])
    )
    assert s["episodes"] == 2 and Path(s["out"]) == tmp_path / "run" / "dataset"
    video, ctrl = tmp_path / "v.mkv", tmp_path / "c.csv"
    make_video(video, 10)
    make_controls(ctrl, [0.1 * i for i in range(11)], [0] * 11)
    s = import_video_command(
        compose_cfg("import_video", [f"video={video}", f"controls={ctrl}", f"out={tmp_path}/v"])
    )
    assert DrivingLog(s["out"]).num_frames == 10


def test_missing_required_option_is_named(compose_cfg) -> None:
    with pytest.raises(ValueError, match="missing required option.*log_dir"):
        import_udacity_command(compose_cfg("import_udacity"))


def test_script_reports_bad_input_in_one_line(tmp_path: Path) -> None:
    log_dir = make_udacity(tmp_path)
    (log_dir / "driving_log.csv").write_text("IMG/x.jpg,IMG/x.jpg,IMG/x.jpg,0.1,0,0,10\n")
    r = subprocess.run(
        [
            sys.executable,
            str(PROJECT_ROOT / "scripts" / "import_udacity.py"),
            f"log_dir={log_dir}",
            f"out={tmp_path}/out",
            f"paths.log_dir={tmp_path}/outputs",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip().splitlines()[-1].startswith("error: ")
    assert "driving_log.csv, line 1, center: image 'IMG/x.jpg' not found" in r.stderr
    assert "Traceback" not in r.stderr
    assert not (tmp_path / "out").exists()
