"""drone_causality-style importer: good flights in, every bad input named, nothing written."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from lnn_drive.commands import main
from lnn_drive.data.importers import DroneImportConfig, import_drone_causality
from lnn_drive.data.log import DrivingLog, LogFormatError

H, W = 18, 32


def write_flight(
    folder: Path, n: int = 6, *, seed: int = 0, start: int = 0, fmt: str = "{:06d}.png"
):
    """A flight of ``n`` frames whose brightness encodes the frame index, and its CSV
    (vx = index / 10, vy = -index, vz = 0.1, omega_z = 0.01 * index)."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        img = np.full((H, W, 3), 20 * i + 10, np.uint8)
        img[:, :4] = rng.integers(0, 255, (H, 4, 3), dtype=np.uint8)
        cv2.imwrite(str(folder / fmt.format(start + i)), img)
    lines = ["vx,vy,vz,omega_z"] + [f"{i / 10},{-i},0.1,{0.01 * i}" for i in range(n)]
    (folder / "data_out.csv").write_text("\n".join(lines) + "\n")
    return folder


def run(tmp_path: Path, log_dir: Path, **kw) -> Path:
    out = tmp_path / "out"
    import_drone_causality(DroneImportConfig(log_dir=str(log_dir), out=str(out), **kw))
    return out


def test_one_flight(tmp_path):
    out = run(tmp_path, write_flight(tmp_path / "f1"), fps=15.0)
    log = DrivingLog(out)
    log.validate()
    assert log.meta.signals == {"vx": "m/s", "vy": "m/s", "vz": "m/s", "yaw_rate": "rad/s"}
    assert (log.meta.height, log.meta.width, log.meta.fps) == (H, W, 15.0)
    ep = log.episodes[0]
    sig = log.signals(ep)
    assert np.allclose(sig["vx"], np.arange(6) / 10) and np.allclose(
        sig["yaw_rate"], 0.01 * np.arange(6)
    )
    assert np.allclose(np.diff(sig["timestamp"]), 1 / 15)
    frames = log.frames(ep)
    assert np.allclose(frames[:, :, 4:].mean(axis=(1, 2, 3)), 20 * np.arange(6) + 10, atol=1)


def test_folder_of_flights_numbering_from_one_jpeg_and_resize(tmp_path):
    root = tmp_path / "flights"
    write_flight(root / "b_flight", 5, start=1, fmt="{}.jpg")
    write_flight(root / "a_flight", 4)
    (root / "notes").mkdir()  # folders without a CSV are not flights
    out = run(tmp_path, root, height=12, width=20)
    log = DrivingLog(out)
    assert [e.meta["flight"] for e in log.episodes] == ["a_flight", "b_flight"]
    assert [e.num_frames for e in log.episodes] == [4, 5]
    assert (log.meta.height, log.meta.width) == (12, 20)


def _bad(folder: Path, case: str) -> None:
    csv = folder / "data_out.csv"
    text = csv.read_text().splitlines()
    if case == "missing column":
        csv.write_text("\n".join([text[0].replace("omega_z", "yaw")] + text[1:]))
    elif case == "nan":
        text[3] = "0.2,nan,0.1,0.0"
        csv.write_text("\n".join(text))
    elif case == "non-numeric":
        text[2] = "0.1,fast,0.1,0.0"
        csv.write_text("\n".join(text))
    elif case == "empty csv":
        csv.write_text("")
    elif case == "header only":
        csv.write_text(text[0] + "\n")
    elif case == "missing image":
        (folder / "000003.png").unlink()
    elif case == "more rows than images":
        csv.write_text("\n".join([*text, "0.1,0.1,0.1,0.1"]))
    elif case == "more images than rows":
        csv.write_text("\n".join(text[:-1]))
    elif case == "truncated image":
        p = folder / "000002.png"
        p.write_bytes(p.read_bytes()[:40])
    elif case == "other size":
        cv2.imwrite(str(folder / "000004.png"), np.zeros((H + 2, W, 3), np.uint8))
    elif case == "short row":
        text[4] = "0.1,0.2"
        csv.write_text("\n".join(text))


BAD = [
    ("missing column", r"data_out.csv, line 1: missing column\(s\) \['omega_z'\]"),
    ("nan", r"data_out.csv, line 4: vy 'nan' is not a finite number"),
    ("non-numeric", r"data_out.csv, line 3: vy 'fast' is not a number"),
    ("empty csv", r"data_out.csv: empty CSV"),
    ("header only", r"data_out.csv: a header but no data rows"),
    ("missing image", r"image 3 is missing"),
    ("more rows than images", r"7 data rows but .* holds 6 numbered images"),
    ("more images than rows", r"5 data rows but .* holds 6 numbered images"),
    ("truncated image", r"000002.png: cannot decode image \(frame 2 of .*truncated"),
    ("other size", r"000004.png: image is 32x20, the first is 32x18 \(frame 4"),
    ("short row", r"data_out.csv, line 5: 2 fields, the header has 4"),
]


@pytest.mark.parametrize(("case", "match"), BAD, ids=[b[0] for b in BAD])
def test_bad_input_is_named_and_nothing_is_written(tmp_path, case, match):
    root = tmp_path / "flights"
    write_flight(root / "a", 6)
    write_flight(root / "b", 6)
    _bad(root / "b", case)
    with pytest.raises(LogFormatError, match=match):
        run(tmp_path, root)
    assert not (tmp_path / "out").exists()
    assert not list(tmp_path.glob("out*"))  # no staging folder left either


def test_bad_options(tmp_path):
    with pytest.raises(ValueError, match="unknown output signal"):
        DroneImportConfig(log_dir="x", out="y", columns={"steering": "s"})
    with pytest.raises(ValueError, match="height and width"):
        DroneImportConfig(log_dir="x", out="y", height=10)
    with pytest.raises(ValueError, match="fps"):
        DroneImportConfig(log_dir="x", out="y", fps=0)
    with pytest.raises(LogFormatError, match="no data_out.csv"):
        run(tmp_path, tmp_path)
    with pytest.raises(LogFormatError, match="not a folder"):
        run(tmp_path, tmp_path / "nope")


def test_command_error_line_and_exit_status(tmp_path, capsys):
    root = tmp_path / "flights"
    write_flight(root / "a", 4)
    _bad(root / "a", "nan")
    out = tmp_path / "ds"
    rc = main(["import-drone", f"log_dir={root}", f"out={out}", f"hydra.run.dir={tmp_path}/h"])
    assert rc == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and err[0].startswith("error: ") and "line 4" in err[0], err
    assert not out.exists()
    write_flight(root / "b", 3)
    _bad(root / "a", "header only")  # still bad: a is rejected, b alone is not imported
    assert (
        main(["import-drone", f"log_dir={root / 'b'}", f"out={out}", f"hydra.run.dir={tmp_path}/h"])
        == 0
    )
    assert DrivingLog(out).num_frames == 3
