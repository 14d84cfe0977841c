"""`expert-check`: the expert's record on given roads, printed and written as JSON."""

from __future__ import annotations

import json

import pytest

from lnn_drive.commands import main


def test_expert_check_writes_a_record_on_capped_roads(tmp_path, capsys) -> None:
    out = tmp_path / "expert" / "stanley.json"
    args = ["km=0.5", "first_seed=200000", "drive_steps=100", f"hydra.run.dir={tmp_path}/h"]
    assert main(["expert-check", *args, "env.height=24", "env.width=64", f"out={out}"]) == 0
    text = capsys.readouterr().out
    assert "0 crashes" in text and f"record: {out}" in text
    doc = json.loads(out.read_text())
    r = doc["result"]
    # 100 steps x 10 m/s / 30 Hz = 33 m per road: ~15 roads for 0.5 km, each from its seed
    assert r["crashes"] == 0 and 0.5 <= r["km"] < 0.55
    assert r["seeds"] == [200000, 200000 + r["episodes"] - 1] and r["episodes"] >= 14
    prov = doc["provenance"]
    assert prov["config"]["drive_steps"] == 100 and len(prov["config_hash"]) == 16
    assert prov["code"] and "commit" in prov
    assert not list(out.parent.glob(".*.tmp"))  # written atomically


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ("km=-1", "km=-1"),
        ("km=nan", "km=nan"),
        ("km=abc", "km=abc"),
        ("drive_steps=0", "drive_steps=0"),
        ("first_seed=-3", "first_seed=-3"),
        ("roads=0", "roads=0"),
    ],
)
def test_expert_check_bad_options_are_one_error_line(tmp_path, capsys, option, message) -> None:
    assert main(["expert-check", option, f"hydra.run.dir={tmp_path}/h"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and message in err[0]


def test_expert_check_out_must_not_be_a_folder(tmp_path, capsys) -> None:
    folder = tmp_path / "o"
    folder.mkdir()
    rc = main(["expert-check", "km=0.1", f"out={folder}", f"hydra.run.dir={tmp_path}/h"])
    assert rc == 2 and "is a folder" in capsys.readouterr().err
    assert list(folder.iterdir()) == []  # nothing written, nothing driven


def test_expert_check_drives_exactly_the_given_roads(tmp_path, capsys) -> None:
    out = tmp_path / "r.json"
    args = ["roads=3", "drive_steps=60", "first_seed=7", "env.height=24", "env.width=64"]
    assert main(["expert-check", *args, f"out={out}", f"hydra.run.dir={tmp_path}/h"]) == 0
    r = json.loads(out.read_text())["result"]
    assert r["episodes"] == 3 and r["seeds"] == [7, 9]
    assert r["km"] == pytest.approx(3 * 60 * 10.0 / 30.0 / 1000.0, rel=0.02)
