"""The driving-log format: round trip, atomic writes, and validation on write and read."""

from __future__ import annotations

import csv
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
    os.close(log._lock._fd)
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
    with pytest.raises(LogFormatError, match="positive"):
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
