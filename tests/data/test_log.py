"""The driving-log format: round trip, atomic writes, and validation on write and read."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import numpy as np
import pytest

from lnn_drive.data import DrivingLog, LogFormatError, LogWriter

SIGNALS = {"steering": "1/m", "speed": "m/s"}


def _writer(root: Path, **kw) -> LogWriter:
    return LogWriter(root, height=12, width=16, fps=30, signals=SIGNALS, source="test", **kw)


def _frame(v: int) -> np.ndarray:
    f = np.zeros((12, 16, 3), np.uint8)
    f[..., 0] = v
    f[:, :8, 2] = 255 - v
    return f


def test_round_trip_is_lossless_with_ffv1(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    with _writer(root) as log:
        for e in range(2):
            with log.episode(meta={"seed": e, "preset": "summer"}) as ep:
                for i in range(7):
                    ep.append(
                        _frame(10 * i + e), timestamp=0.1 * i, steering=0.01 * i - e, speed=9.5
                    )
    d = DrivingLog(root)
    assert [e.num_frames for e in d.episodes] == [7, 7]
    assert d.episodes[1].meta == {"seed": 1, "preset": "summer"}
    assert d.meta.signals == SIGNALS and d.meta.height == 12
    frames = d.frames(d.episodes[1])
    np.testing.assert_array_equal(frames[3], _frame(31))
    sig = d.signals(d.episodes[1])
    np.testing.assert_allclose(sig["steering"], 0.01 * np.arange(7) - 1)
    np.testing.assert_allclose(sig["timestamp"], 0.1 * np.arange(7))
    d.validate()


def test_mp4v_round_trip_is_close(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    with _writer(root, encoding="mp4v") as log, log.episode() as ep:
        for i in range(5):
            ep.append(np.full((12, 16, 3), 100, np.uint8), timestamp=i, steering=0, speed=0)
    frames = DrivingLog(root).frames(DrivingLog(root).episodes[0])
    assert frames.shape == (5, 12, 16, 3)
    assert np.abs(frames.astype(int) - 100).mean() < 6  # lossy YUV 4:2:0


def test_exception_leaves_nothing_that_looks_complete(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    with pytest.raises(RuntimeError, match="boom"), _writer(root) as log:
        with log.episode() as ep:
            ep.append(_frame(1), timestamp=0, steering=0, speed=0)
        raise RuntimeError("boom")
    assert not root.exists()
    assert not root.with_name("ds.incomplete").exists()


def test_interrupted_write_is_not_readable_as_a_dataset(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    log = _writer(root)  # a process killed mid-write never reaches close()
    with log.episode() as ep:
        ep.append(_frame(1), timestamp=0, steering=0, speed=0)
    ep2 = log.episode()
    ep2.append(_frame(2), timestamp=0, steering=0, speed=0)
    with pytest.raises(LogFormatError, match="interrupted"):
        DrivingLog(root)
    # an unfinished episode is hidden even inside the staging folder
    staged = root.with_name("ds.incomplete") / "episodes"
    assert sorted(p.name for p in staged.iterdir()) == [".ep_00001.partial", "ep_00000"]
    # a killed process's lock is released by the OS; its lock file stays behind
    os.close(log._out._lock._fd)
    assert root.with_name("ds.lock").exists()
    # the next writer cleans up the stale staging folder and the lock file
    with _writer(root) as log2, log2.episode() as ep:
        ep.append(_frame(3), timestamp=0, steering=0, speed=0)
    assert len(DrivingLog(root)) == 1
    assert not root.with_name("ds.lock").exists()


def test_existing_dataset_is_kept_until_the_new_one_is_complete(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    with _writer(root) as log, log.episode() as ep:
        ep.append(_frame(1), timestamp=0, steering=0, speed=0)
    with pytest.raises(FileExistsError):
        _writer(root)
    with pytest.raises(RuntimeError), _writer(root, overwrite=True) as log:
        with log.episode() as ep:
            ep.append(_frame(2), timestamp=0, steering=1, speed=0)
        raise RuntimeError("interrupted")
    assert DrivingLog(root).signals(DrivingLog(root).episodes[0])["steering"][0] == 0
    with _writer(root, overwrite=True) as log, log.episode() as ep:
        ep.append(_frame(2), timestamp=0, steering=1, speed=0)
    assert DrivingLog(root).signals(DrivingLog(root).episodes[0])["steering"][0] == 1


@pytest.mark.parametrize(
    ("frame", "kw", "match"),
    [
        (np.zeros((12, 16, 3), np.float32), {}, "uint8 RGB frame of shape"),
        (np.zeros((12, 15, 3), np.uint8), {}, r"shape \(12, 16, 3\)"),
        (_frame(0), {"steering": float("nan")}, "steering is not finite"),
        (_frame(0), {"speed": float("inf")}, "speed is not finite"),
        (_frame(0), {"steering": None}, "missing"),
        (_frame(0), {"throttle": 1.0}, "unexpected"),
    ],
)
def test_append_rejects_bad_frames_and_signals(tmp_path: Path, frame, kw, match) -> None:
    signals = {"steering": 0.0, "speed": 1.0, **kw}
    signals = {k: v for k, v in signals.items() if v is not None}
    with _writer(tmp_path / "ds") as log, log.episode() as ep:
        ep.append(_frame(0), timestamp=0, steering=0, speed=0)
        with pytest.raises(LogFormatError, match=match) as e:
            ep.append(frame, timestamp=1, **signals)
        assert "episode ep_00000, frame 1" in str(e.value)


def test_append_rejects_non_increasing_timestamps(tmp_path: Path) -> None:
    with _writer(tmp_path / "ds") as log, log.episode() as ep:
        ep.append(_frame(0), timestamp=1.0, steering=0, speed=0)
        with pytest.raises(LogFormatError, match="does not increase"):
            ep.append(_frame(0), timestamp=1.0, steering=0, speed=0)


def test_empty_episode_and_empty_dataset_are_errors(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    with pytest.raises(LogFormatError, match="empty episode"), _writer(root) as log, log.episode():
        pass
    assert not root.exists()
    with pytest.raises(LogFormatError, match="no episodes"), _writer(root):
        pass
    assert not root.exists() and not root.with_name("ds.incomplete").exists()


def test_metadata_is_validated(tmp_path: Path) -> None:
    with pytest.raises(LogFormatError, match="within 1..8192"):
        LogWriter(tmp_path / "a", height=0, width=3, fps=30, signals=SIGNALS, source="t")
    with pytest.raises(LogFormatError, match="encoding"):
        LogWriter(
            tmp_path / "a", height=2, width=3, fps=30, signals=SIGNALS, source="t", encoding="gif"
        )
    with pytest.raises(LogFormatError, match="timestamp"):
        LogWriter(tmp_path / "a", height=2, width=3, fps=30, signals={"timestamp": "s"}, source="t")


@pytest.fixture
def small_log(tmp_path: Path) -> Path:
    root = tmp_path / "ds"
    with _writer(root) as log, log.episode() as ep:
        for i in range(6):
            ep.append(_frame(i * 20), timestamp=i / 30, steering=0.01 * i, speed=10)
    return root


def _edit_signals(root: Path, fn) -> Path:
    path = root / "episodes" / "ep_00000" / "signals.csv"
    rows = list(csv.reader(path.read_text().splitlines()))
    rows = fn(rows)
    with open(path, "w", newline="") as f:
        csv.writer(f).writerows(rows)
    return path


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (lambda r: r[:-1], "5 rows but the episode has 6 frames"),
        (lambda r: [*r[:3], [r[3][0], "nan", r[3][2]], *r[4:]], "line 4: non-finite"),
        (lambda r: [*r[:3], [r[3][0], "left", r[3][2]], *r[4:]], "line 4: non-numeric"),
        (lambda r: [*r[:3], ["0.0", *r[3][1:]], *r[4:]], "line 4: timestamp 0.0 does not increase"),
        (lambda r: [["t", "steering", "speed"], *r[1:]], "header"),
    ],
)
def test_reader_validates_signals(small_log: Path, edit, match) -> None:
    path = _edit_signals(small_log, edit)
    d = DrivingLog(small_log)
    with pytest.raises(LogFormatError, match=match) as e:
        d.signals(d.episodes[0])
    assert str(path) in str(e.value)


def test_reader_detects_truncated_and_corrupt_video(small_log: Path) -> None:
    video = small_log / "episodes" / "ep_00000" / "frames.mkv"
    data = video.read_bytes()
    video.write_bytes(data[: len(data) // 2])
    d = DrivingLog(small_log)
    with pytest.raises(LogFormatError, match="frames.mkv") as e:
        d.frames(d.episodes[0])
    assert "truncated" in str(e.value) or "corrupt" in str(e.value)
    video.write_bytes(b"not a video at all" * 10)
    with pytest.raises(LogFormatError, match="cannot open video|decoded 0 frames"):
        d.frames(d.episodes[0])


def test_reader_rejects_missing_episode_and_foreign_folders(
    small_log: Path, tmp_path: Path
) -> None:
    import shutil

    shutil.rmtree(small_log / "episodes" / "ep_00000")
    with pytest.raises(LogFormatError, match="episode.json: missing"):
        DrivingLog(small_log)
    (tmp_path / "empty").mkdir()
    with pytest.raises(LogFormatError, match="no dataset.json"):
        DrivingLog(tmp_path / "empty")


# ------------------------------------------------ overwrite safety, locking, containment


def test_overwrite_never_replaces_a_folder_that_is_not_a_dataset(tmp_path: Path) -> None:
    thesis = tmp_path / "thesis"
    thesis.mkdir()
    (thesis / "chapter1.tex").write_text("years of work")
    with pytest.raises(LogFormatError, match="not an lnn_drive dataset.*nothing was deleted"):
        _writer(thesis, overwrite=True)
    assert (thesis / "chapter1.tex").read_text() == "years of work"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["thesis"]  # no lock, no staging
    (tmp_path / "file").write_text("x")
    with pytest.raises(LogFormatError, match="not an lnn_drive dataset"):
        _writer(tmp_path / "file", overwrite=True)
    (tmp_path / "link").symlink_to(thesis)
    with pytest.raises(LogFormatError, match="symbolic link"):
        _writer(tmp_path / "link", overwrite=True)


def test_overwrite_never_touches_an_input(small_log: Path, tmp_path: Path) -> None:
    inp = tmp_path / "inputs"
    (inp / "sub").mkdir(parents=True)
    (inp / "sub" / "a.csv").write_text("x")
    for out, how in [(inp, "is"), (inp / "sub", "lies inside"), (tmp_path, "contains")]:
        with pytest.raises(LogFormatError, match=f"{how} the input"):
            _writer(out, overwrite=True, inputs=[inp])
    # a dataset that is itself the input of the write
    with pytest.raises(LogFormatError, match="is the input"):
        _writer(small_log, overwrite=True, inputs=[small_log])
    with pytest.raises(LogFormatError, match="contains the input"):
        _writer(small_log, overwrite=True, inputs=[small_log / "episodes" / "ep_00000"])
    assert (inp / "sub" / "a.csv").read_text() == "x"
    assert len(DrivingLog(small_log)) == 1


def test_overwrite_swaps_atomically_and_keeps_no_old_copy(small_log: Path) -> None:
    with _writer(small_log, overwrite=True) as log, log.episode() as ep:
        for i in range(3):
            ep.append(_frame(i), timestamp=i, steering=1, speed=0)
    d = DrivingLog(small_log)
    assert d.num_frames == 3
    assert sorted(p.name for p in small_log.parent.iterdir()) == ["ds"]


def test_second_writer_to_the_same_root_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    first = _writer(root)
    with first.episode() as ep:
        ep.append(_frame(1), timestamp=0, steering=0, speed=0)
    with pytest.raises(FileExistsError, match="being written by another process.*ds.lock"):
        _writer(root, overwrite=True)
    staged = root.with_name("ds.incomplete") / "episodes" / "ep_00000"
    assert (staged / "episode.json").is_file()  # the first writer's staging survives
    first.close()
    assert len(DrivingLog(root)) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds"]


def test_a_foreign_folder_named_like_the_staging_is_not_deleted(tmp_path: Path) -> None:
    (tmp_path / "ds.incomplete").mkdir()
    (tmp_path / "ds.incomplete" / "notes.txt").write_text("mine")
    with pytest.raises(LogFormatError, match="not a staging folder of this project"):
        _writer(tmp_path / "ds")
    assert (tmp_path / "ds.incomplete" / "notes.txt").read_text() == "mine"
    assert not (tmp_path / "ds.lock").exists()


def _set_name(root: Path, name: object) -> None:
    p = root / "dataset.json"
    d = json.loads(p.read_text())
    d["episodes"][0]["name"] = name
    p.write_text(json.dumps(d))


@pytest.mark.parametrize("name", ["../x", "/etc", "ep_00000/../../x", "ep_0", 7, None])
def test_reader_only_follows_episode_names_of_the_format(small_log: Path, name) -> None:
    _set_name(small_log, name)
    with pytest.raises(LogFormatError, match=r"dataset.json, episodes\[0\]: episode name"):
        DrivingLog(small_log)


def test_reader_refuses_an_episode_symlinked_outside(small_log: Path, tmp_path: Path) -> None:
    ep = small_log / "episodes" / "ep_00000"
    ep.rename(tmp_path / "elsewhere")
    ep.symlink_to(tmp_path / "elsewhere")
    with pytest.raises(LogFormatError, match="resolves to .*elsewhere, outside"):
        DrivingLog(small_log)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("{oops", "invalid JSON"),
        ("[]", "expected a JSON object, got list"),
        (
            '{"num_frames": "6", "duration_s": 0.1}',
            "num_frames must be a positive integer, got '6'",
        ),
        ('{"num_frames": 6.5, "duration_s": 0.1}', "num_frames must be a positive integer"),
        ('{"duration_s": 0.1}', "num_frames must be a positive integer, got None"),
        ('{"num_frames": 6, "duration_s": "long"}', "duration_s must be a non-negative number"),
        ('{"num_frames": 6, "duration_s": 0.1, "meta": 3}', "meta must be an object"),
    ],
)
def test_reader_names_a_malformed_episode_json(small_log: Path, text: str, match: str) -> None:
    path = small_log / "episodes" / "ep_00000" / "episode.json"
    path.write_text(text)
    with pytest.raises(LogFormatError, match=match) as e:
        DrivingLog(small_log)
    assert str(e.value).startswith(str(path))


def test_signals_csv_encoding(small_log: Path) -> None:
    path = small_log / "episodes" / "ep_00000" / "signals.csv"
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())  # a BOM (saved by Excel) is fine
    d = DrivingLog(small_log)
    assert len(d.signals(d.episodes[0])["steering"]) == 6
    path.write_bytes(path.read_bytes().replace(b"steering", b"st\xe9ering"))
    with pytest.raises(LogFormatError, match=r"signals.csv, line 1: not UTF-8 text \(byte 0xe9"):
        d.signals(d.episodes[0])


def test_a_new_dataset_may_go_inside_an_input_folder(tmp_path: Path) -> None:
    inp = tmp_path / "inputs"
    inp.mkdir()
    with _writer(inp / "converted", inputs=[inp]) as log, log.episode() as ep:
        ep.append(_frame(1), timestamp=0, steering=0, speed=0)
    assert len(DrivingLog(inp / "converted")) == 1


def test_overwrite_without_an_atomic_swap_keeps_the_old_dataset_aside(
    small_log: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import lnn_drive.data.log as log_module

    monkeypatch.setattr(log_module, "_exchange", lambda a, b: False)
    with _writer(small_log, overwrite=True) as log, log.episode() as ep:
        ep.append(_frame(1), timestamp=0, steering=1, speed=0)
    assert DrivingLog(small_log).num_frames == 1
    assert sorted(p.name for p in small_log.parent.iterdir()) == ["ds"]
