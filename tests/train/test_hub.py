"""export-checkpoint: safetensors + config.json round trip, no pickle, clear errors."""

from __future__ import annotations

import json
import pickletools
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("safetensors")

from lnn_drive.models import CheckpointMismatchError, Policy  # noqa: E402
from lnn_drive.train.checkpoint import TrainState, save_checkpoint  # noqa: E402
from lnn_drive.train.hub import ExportCheckpointConfig, export_checkpoint  # noqa: E402
from tests.models.test_models import make_policy  # noqa: E402


@pytest.mark.parametrize("name", ["ncp_ltc", "lstm"])
def test_export_round_trip_gives_equal_actions(tmp_path: Path, name: str) -> None:
    policy = make_policy(name)
    with torch.no_grad():  # move away from the initialisation so equality means something
        for p in policy.parameters():
            p.add_(0.01 * torch.randn_like(p))
    pt = save_checkpoint(tmp_path / "best.pt", policy=policy, state=TrainState(step=7))
    out = export_checkpoint(ExportCheckpointConfig(checkpoint=str(pt), out=str(tmp_path / "hub")))
    assert sorted(p.name for p in out.iterdir()) == [
        "README.md",
        "config.json",
        "model.safetensors",
    ]
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["policy"]["output_names"] == ["steering"] and cfg["train_state"]["step"] == 7
    # safetensors: an 8-byte header length, a JSON header, raw tensor bytes; no pickle opcodes
    raw = (out / "model.safetensors").read_bytes()
    header = json.loads(raw[8 : 8 + int.from_bytes(raw[:8], "little")])
    assert header["__metadata__"]["producer"] == "lnn_drive"
    with pytest.raises(Exception):  # noqa: B017 - not a pickle stream
        list(pickletools.genops(raw))
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (6, 78, 200, 3), dtype=np.uint8)
    a, b, c = Policy.load(pt), Policy.load(out), Policy.load(out / "model.safetensors")
    for pol in (a, b, c):
        pol.reset()
    for f in frames:
        ya, yb, yc = a.act(f), b.act(f), c.act(f)
        np.testing.assert_array_equal(ya, yb)
        np.testing.assert_array_equal(ya, yc)
    for k, v in a.state_dict().items():
        assert torch.equal(v, b.state_dict()[k]), k


def test_bad_exports_are_reported(tmp_path: Path) -> None:
    pt = save_checkpoint(tmp_path / "best.pt", policy=make_policy("feedforward"))
    out = export_checkpoint(ExportCheckpointConfig(checkpoint=str(pt), out=str(tmp_path / "hub")))
    with pytest.raises(FileExistsError):
        export_checkpoint(ExportCheckpointConfig(checkpoint=str(pt), out=str(out)))
    (out / "model.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json")
    with pytest.raises(CheckpointMismatchError, match=r"model\.safetensors: not a readable"):
        Policy.load(out)
    (out / "config.json").write_text('{"policy": {}}')
    with pytest.raises(CheckpointMismatchError, match=r"config\.json: not an lnn_drive"):
        Policy.load(out)
    (out / "config.json").unlink()
    with pytest.raises(FileNotFoundError, match=r"config\.json: not found"):
        Policy.load(out)
    assert not list(tmp_path.glob(".*incomplete"))


def test_cli_exports_and_reports_errors(tmp_path: Path, run_command) -> None:
    pt = save_checkpoint(tmp_path / "best.pt", policy=make_policy("feedforward"))
    code, out, _ = run_command(
        ["export-checkpoint", *[f"checkpoint={pt}", f"out={tmp_path / 'hub'}"]]
    )
    assert code == 0 and "model.safetensors" in out
    assert (tmp_path / "hub" / "model.safetensors").is_file()
    code, _, err = run_command(
        ["export-checkpoint", *[f"checkpoint={tmp_path / 'nope.pt'}", f"out={tmp_path / 'x'}"]]
    )
    assert code == 2
    assert err.strip().startswith("error: ") and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x").exists()
