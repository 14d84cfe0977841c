"""The data commands through the real dispatcher, in-process and as scripts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from lnn_drive import PROJECT_ROOT
from lnn_drive.commands import main
from lnn_drive.data import DrivingLog
from tests.data.test_importers import make_controls, make_udacity, make_video


def _run(command: str, tmp_path: Path, *overrides: str) -> int:
    return main(
        [
            command,
            f"hydra.run.dir={tmp_path}/run",
            f"paths.cache_dir={tmp_path}/cache",
            *overrides,
        ]
    )


def test_inspect(make_dataset, tmp_path: Path, capsys) -> None:
    root = make_dataset((20, 30))
    assert _run("inspect", tmp_path, f"root={root}") == 0
    out = capsys.readouterr().out
    assert "episodes  2   frames 50" in out and "steering" in out
    s = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert s["episodes"] == 2 and s["frames"] == 50 and s["validated_frames"]
    assert s["signals"]["steering"]["max"] == pytest.approx(1.029)
    assert (tmp_path / "run" / "histograms.png").stat().st_size > 1000
    assert (tmp_path / "run" / ".hydra" / "config.yaml").is_file()


def test_imports(tmp_path: Path, capsys) -> None:
    log_dir = make_udacity(tmp_path, style="windows")
    assert _run("import-udacity", tmp_path, f"log_dir={log_dir}", "cameras=[center,left]") == 0
    assert "in 2 episode(s)" in capsys.readouterr().out
    assert len(DrivingLog(tmp_path / "run" / "dataset")) == 2
    video, ctrl = tmp_path / "v.mkv", tmp_path / "c.csv"
    make_video(video, 10)
    make_controls(ctrl, [0.1 * i for i in range(11)], [0] * 11)
    rc = _run("import_video", tmp_path, f"video={video}", f"controls={ctrl}", f"out={tmp_path}/v")
    assert rc == 0 and DrivingLog(tmp_path / "v").num_frames == 10


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
    assert r.stderr.strip().splitlines() == [r.stderr.strip()]  # one line
    assert r.stderr.startswith("error: ")
    assert "driving_log.csv, line 1, center: image 'IMG/x.jpg' not found" in r.stderr
    assert not (tmp_path / "out").exists()
