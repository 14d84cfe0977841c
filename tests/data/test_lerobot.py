"""LeRobot v3.0 export/import: the layout, a lossless round trip of data/sample, lossy
codecs within tolerance, several files per chunk, and bad input refused whole."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pyarrow")
pytest.importorskip("av")

import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from lnn_drive import PROJECT_ROOT  # noqa: E402
from lnn_drive.data import DrivingLog, LogFormatError, LogWriter  # noqa: E402
from lnn_drive.data.lerobot import (  # noqa: E402
    LeRobotExportConfig,
    LeRobotImportConfig,
    export_lerobot,
    import_lerobot,
)
from tests.conftest import synthetic_frame  # noqa: E402

SAMPLE = PROJECT_ROOT / "data" / "sample"


def _small_log(root: Path, *, irregular: bool = False) -> Path:
    """Two short episodes; with ``irregular`` the clock jitters (as imported video does)."""
    rng = np.random.default_rng(1)
    with LogWriter(
        root,
        height=48,
        width=64,
        fps=20,
        signals={"steering": "1/m", "speed": "m/s"},
        source="test",
    ) as log:
        for e, n in enumerate((12, 9)):
            with log.episode(meta={"seed": e, "group": f"g{e}"}) as ep:
                t = 5.0 * e
                for j in range(n):
                    t += 0.05 + (0.013 * np.sin(j) if irregular else 0.0)
                    ep.append(
                        synthetic_frame(rng, 48, 64, 0.04 * np.sin(j / 3 + e)),
                        timestamp=t,
                        steering=0.02 * np.sin(j / 2 + e),
                        speed=8.0 + j / 7,
                    )
    return root


def _assert_same(a_root: Path, b_root: Path, *, max_pixel_mae: float, sig_atol: float) -> None:
    a, b = DrivingLog(a_root), DrivingLog(b_root)
    assert a.meta.signals == b.meta.signals
    assert [e.num_frames for e in a.episodes] == [e.num_frames for e in b.episodes]
    for ea, eb in zip(a.episodes, b.episodes, strict=True):
        for k in ea.meta:
            assert eb.meta[k] == ea.meta[k]
        sa, sb = a.signals(ea), b.signals(eb)
        np.testing.assert_array_equal(sa["timestamp"], sb["timestamp"])
        for name in a.meta.signal_names:
            if sig_atol == 0:
                np.testing.assert_array_equal(sa[name], sb[name])
            else:
                np.testing.assert_allclose(sa[name], sb[name], rtol=1e-6, atol=sig_atol)
        fa, fb = a.frames(ea).astype(int), b.frames(eb).astype(int)
        if max_pixel_mae == 0:
            np.testing.assert_array_equal(fa, fb)
        else:
            assert np.abs(fa - fb).mean() <= max_pixel_mae


@pytest.fixture(scope="module")
def sample_export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("lr") / "sample_lerobot"
    export_lerobot(
        LeRobotExportConfig(root=str(SAMPLE), out=str(out), codec="h264_lossless", dtype="float64")
    )
    return out


def test_layout_features_and_stats(sample_export: Path) -> None:
    info = json.loads((sample_export / "meta" / "info.json").read_text())
    assert info["codebase_version"] == "v3.0"
    assert info["total_episodes"] == 6 and info["total_frames"] == 600 and info["fps"] == 30
    assert info["data_path"] == "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
    assert (
        info["video_path"] == "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4"
    )
    feats = info["features"]
    assert set(feats) == {
        "observation.images.front",
        "observation.state",
        "action",
        "timestamp",
        "frame_index",
        "episode_index",
        "index",
        "task_index",
    }
    assert feats["action"]["names"] == ["steering"]
    assert feats["observation.images.front"]["shape"] == [78, 200, 3]
    # several episodes per file
    assert [p.name for p in (sample_export / "data").glob("*/*.parquet")] == ["file-000.parquet"]
    video = sample_export / "videos" / "observation.images.front" / "chunk-000" / "file-000.mp4"
    assert video.is_file()
    eps = pq.read_table(sample_export / "meta" / "episodes" / "chunk-000" / "file-000.parquet")
    eps = eps.to_pydict()
    assert eps["length"] == [100] * 6
    assert eps["dataset_from_index"] == [0, 100, 200, 300, 400, 500]
    assert eps["videos/observation.images.front/from_timestamp"][1] == pytest.approx(100 / 30)
    assert eps["tasks"][0] == ["drive along the lane"]
    tasks = pq.read_table(sample_export / "meta" / "tasks.parquet")
    assert tasks.column("task").to_pylist() == ["drive along the lane"]
    assert json.loads(tasks.schema.metadata[b"pandas"])["index_columns"] == ["task"]
    # stats: LeRobot's keys, values over every frame
    stats = json.loads((sample_export / "meta" / "stats.json").read_text())
    log = DrivingLog(SAMPLE)
    steer = np.concatenate([log.signals(e)["steering"] for e in log.episodes])
    st = stats["action"]
    assert set(st) == {"min", "max", "mean", "std", "count", "q01", "q10", "q50", "q90", "q99"}
    assert st["count"] == [600]
    assert st["q90"] == pytest.approx([np.quantile(steer, 0.9)])
    assert st["min"] == pytest.approx([steer.min()])
    img = stats["observation.images.front"]
    assert np.asarray(img["mean"]).shape == (3, 1, 1)
    assert 0 < np.asarray(img["q50"]).min() <= np.asarray(img["q99"]).max() <= 1


def test_sample_round_trip_is_exact_with_lossless_codec(
    sample_export: Path, tmp_path: Path
) -> None:
    back = tmp_path / "back"
    s = import_lerobot(LeRobotImportConfig(root=str(sample_export), out=str(back)))
    assert (s.episodes, s.frames) == (6, 600)
    _assert_same(SAMPLE, back, max_pixel_mae=0, sig_atol=0)
    assert DrivingLog(back).meta.extra["env"] == DrivingLog(SAMPLE).meta.extra["env"]


@pytest.mark.parametrize("codec", ["h264", "av1"])
def test_lossy_round_trip_within_codec_tolerance(tmp_path: Path, codec: str) -> None:
    src = _small_log(tmp_path / "src", irregular=True)
    out = tmp_path / "lr"
    export_lerobot(LeRobotExportConfig(root=str(src), out=str(out), codec=codec))
    import_lerobot(LeRobotImportConfig(root=str(out), out=str(tmp_path / "back")))
    # float32 signals; irregular timestamps come back exactly from the sidecar
    _assert_same(src, tmp_path / "back", max_pixel_mae=8.0, sig_atol=1e-6)


def test_without_sidecar_uses_lerobot_columns(sample_export: Path, tmp_path: Path) -> None:
    bare = tmp_path / "bare"
    shutil.copytree(sample_export, bare)
    (bare / "meta" / "lnn_drive.json").unlink()
    s = import_lerobot(
        LeRobotImportConfig(root=str(bare), out=str(tmp_path / "back"), episodes=[1, 4])
    )
    assert s.episodes == 2 and s.notes
    back, src = DrivingLog(tmp_path / "back"), DrivingLog(SAMPLE)
    assert back.meta.signals == {n: "unknown" for n in src.meta.signal_names}
    a, b = src.signals(src.episodes[4]), back.signals(back.episodes[1])
    np.testing.assert_allclose(b["timestamp"], a["timestamp"], atol=1e-6)
    np.testing.assert_array_equal(b["steering"], a["steering"])
    assert back.episodes[1].meta["lerobot_episode_index"] == 4


def test_images_stored_in_parquet(sample_export: Path, tmp_path: Path) -> None:
    """``dtype: image`` datasets: PNG bytes in the data files instead of videos."""
    import cv2

    ds = tmp_path / "img"
    shutil.copytree(sample_export, ds)
    shutil.rmtree(ds / "videos")
    log = DrivingLog(SAMPLE)
    pngs = [
        cv2.imencode(".png", cv2.cvtColor(f, cv2.COLOR_RGB2BGR))[1].tobytes()
        for e in log.episodes
        for f in log.iter_frames(e)
    ]
    t = pq.read_table(ds / DATA)
    col = pa.array(
        [{"bytes": b, "path": None} for b in pngs],
        pa.struct([("bytes", pa.binary()), ("path", pa.string())]),
    )
    pq.write_table(t.append_column("observation.images.front", col), ds / DATA)
    info = json.loads((ds / "meta" / "info.json").read_text())
    info["features"]["observation.images.front"]["dtype"] = "image"
    (ds / "meta" / "info.json").write_text(json.dumps(info))
    import_lerobot(LeRobotImportConfig(root=str(ds), out=str(tmp_path / "back")))
    _assert_same(SAMPLE, tmp_path / "back", max_pixel_mae=0, sig_atol=0)
    # a broken image names the file, episode and frame
    bad = list(pngs)
    bad[101] = b"not a png"
    col = pa.array([{"bytes": b, "path": None} for b in bad], col.type)
    pq.write_table(t.append_column("observation.images.front", col), ds / DATA)
    with pytest.raises(LogFormatError, match=r"episode 1, frame 1: .* not a decodable image"):
        import_lerobot(LeRobotImportConfig(root=str(ds), out=str(tmp_path / "back2")))
    assert not (tmp_path / "back2").exists()


def test_many_files_and_chunks(tmp_path: Path) -> None:
    src = _small_log(tmp_path / "src")
    out = tmp_path / "lr"
    export_lerobot(
        LeRobotExportConfig(
            root=str(src),
            out=str(out),
            codec="h264_lossless",
            dtype="float64",
            data_file_size_mb=1e-6,
            video_file_size_mb=1e-6,
            chunks_size=1,
        )
    )
    assert (out / "data" / "chunk-001" / "file-000.parquet").is_file()
    assert (out / "videos" / "observation.images.front" / "chunk-001" / "file-000.mp4").is_file()
    import_lerobot(LeRobotImportConfig(root=str(out), out=str(tmp_path / "back")))
    _assert_same(src, tmp_path / "back", max_pixel_mae=0, sig_atol=0)


def _truncate(p: Path) -> None:
    p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])


def _drop_column(p: Path, col: str) -> None:
    t = pq.read_table(p)
    pq.write_table(t.drop_columns([col]), p)


def _set_info(root: Path, **kv: object) -> None:
    path = root / "meta" / "info.json"
    info = json.loads(path.read_text())
    info.update(kv)
    path.write_text(json.dumps(info))


DATA = "data/chunk-000/file-000.parquet"
VIDEO = "videos/observation.images.front/chunk-000/file-000.mp4"
EPISODES = "meta/episodes/chunk-000/file-000.parquet"


@pytest.mark.parametrize(
    ("breakit", "match"),
    [
        (lambda r: (r / "meta" / "info.json").unlink(), r"info\.json: missing"),
        (lambda r: (r / "meta" / "info.json").write_text("{"), r"info\.json: invalid JSON"),
        (lambda r: _set_info(r, codebase_version="v2.1"), r"codebase_version is 'v2\.1'.*convert"),
        (lambda r: (r / "meta" / "tasks.parquet").unlink(), r"tasks\.parquet: missing"),
        (lambda r: (r / "meta" / "stats.json").unlink(), r"stats\.json: missing"),
        (lambda r: _drop_column(r / DATA, "action"), r"file-000\.parquet: missing column.*action"),
        (
            lambda r: _drop_column(r / EPISODES, "length"),
            r"file-000\.parquet: missing column.*length",
        ),
        (lambda r: _truncate(r / DATA), r"file-000\.parquet: cannot read parquet"),
        (lambda r: _truncate(r / VIDEO), r"file-000\.mp4"),
        (lambda r: (r / VIDEO).unlink(), r"file-000\.mp4: missing video"),
        (lambda r: _set_info(r, total_episodes=7), r"7"),
        (
            lambda r: pq.write_table(pq.read_table(r / DATA).slice(0, 550), r / DATA),
            r"file-000\.parquet: \d+ rows of episode 5",
        ),
    ],
    ids=[
        "no-info",
        "bad-json",
        "v2.1",
        "no-tasks",
        "no-stats",
        "no-action-column",
        "no-length-column",
        "truncated-parquet",
        "truncated-video",
        "no-video",
        "episode-count",
        "missing-rows",
    ],
)
def test_bad_input_is_refused_whole(sample_export: Path, tmp_path: Path, breakit, match) -> None:
    bad = tmp_path / "bad"
    shutil.copytree(sample_export, bad)
    breakit(bad)
    out = tmp_path / "out"
    with pytest.raises(LogFormatError, match=match):
        import_lerobot(LeRobotImportConfig(root=str(bad), out=str(out)))
    assert not out.exists() and not out.with_name("out.incomplete").exists()


def test_non_finite_value_names_file_and_frame(sample_export: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    shutil.copytree(sample_export, bad)
    t = pq.read_table(bad / DATA)
    act = t.column("action").to_numpy().copy()
    act[205] = np.nan
    t = t.set_column(t.schema.get_field_index("action"), "action", pa.array(act))
    pq.write_table(t, bad / DATA)
    with pytest.raises(LogFormatError, match=r"file-000\.parquet: episode 2, frame 5: action"):
        import_lerobot(LeRobotImportConfig(root=str(bad), out=str(tmp_path / "out")))
    assert not (tmp_path / "out").exists()


def test_export_refuses_existing_output_and_bad_action(tmp_path: Path) -> None:
    src = _small_log(tmp_path / "src")
    (tmp_path / "taken").mkdir()
    with pytest.raises(FileExistsError):
        export_lerobot(LeRobotExportConfig(root=str(src), out=str(tmp_path / "taken")))
    with pytest.raises(LogFormatError, match=r"dataset\.json: action signal\(s\) \['yaw'\]"):
        export_lerobot(LeRobotExportConfig(root=str(src), out=str(tmp_path / "o"), action=["yaw"]))
    assert not (tmp_path / "o").exists() and not (tmp_path / "o.incomplete").exists()
    with pytest.raises(ValueError, match="codec"):
        LeRobotExportConfig(root="a", out="b", codec="gif")


def test_cli_reports_one_error_line(sample_export: Path, tmp_path: Path, run_command) -> None:
    bad = tmp_path / "bad"
    shutil.copytree(sample_export, bad)
    _set_info(bad, codebase_version="v2.0")
    code, _, err = run_command(["import-lerobot", *[f"root={bad}", f"out={tmp_path / 'o'}"]])
    assert code == 2
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "info.json" in lines[0]
    assert not (tmp_path / "o").exists()


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_overwrite_replaces_previous_export_only_when_complete(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """overwrite=true replaces an earlier export, which stays intact byte for byte while
    the new one is written and if the new one fails; nothing is left beside ``out``."""
    import lnn_drive.data.lerobot as lr

    out = tmp_path / "lerobot"
    first = _small_log(tmp_path / "a")
    export_lerobot(LeRobotExportConfig(root=str(first), out=str(out), codec="h264_lossless"))
    old = _tree(out)
    second = tmp_path / "b"
    with (
        LogWriter(
            second, height=48, width=64, fps=20, signals={"steering": "1/m"}, source="b"
        ) as log,
        log.episode() as ep,
    ):
        for j in range(5):
            ep.append(np.zeros((48, 64, 3), np.uint8), timestamp=j / 20, steering=0.0)

    seen: list[dict[str, bytes]] = []
    real_write = lr._VideoFileWriter.write

    def watching(self: object, rgb: np.ndarray) -> None:  # mid-export: old one untouched
        seen.append(_tree(out))
        real_write(self, rgb)

    monkeypatch.setattr(lr._VideoFileWriter, "write", watching)

    def failing(self: object, rgb: np.ndarray) -> None:
        raise RuntimeError("disk full")

    with monkeypatch.context() as m:
        m.setattr(lr._VideoFileWriter, "write", failing)
        with pytest.raises(RuntimeError, match="disk full"):
            export_lerobot(LeRobotExportConfig(root=str(second), out=str(out), overwrite=True))
    assert _tree(out) == old
    summary = export_lerobot(
        LeRobotExportConfig(root=str(second), out=str(out), overwrite=True, codec="h264_lossless")
    )
    assert seen and all(s == old for s in seen)
    assert summary.frames == 5 and _tree(out) != old
    info = json.loads((out / "meta" / "info.json").read_text())
    assert info["total_frames"] == 5 and info["total_episodes"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b", "lerobot"]
    assert not (out / ".lnn_drive_staging").exists()


def test_export_after_a_killed_export_cleans_its_staging(tmp_path: Path) -> None:
    """A killed exporter leaves ``<out>.incomplete/`` and ``<out>.lock``; the next export
    (the lock is free again) removes both and writes the dataset."""
    from lnn_drive.data.lerobot import is_lerobot_dataset
    from lnn_drive.data.log import StagedFolder

    src, out = _small_log(tmp_path / "src"), tmp_path / "lr"
    killed = StagedFolder(out, overwrite=False, recognise=is_lerobot_dataset)
    (killed.path / "data").mkdir()
    os.close(killed._lock._fd)  # what the OS does when the process dies
    assert out.with_name("lr.incomplete").is_dir() and out.with_name("lr.lock").exists()
    export_lerobot(LeRobotExportConfig(root=str(src), out=str(out), codec="h264_lossless"))
    assert is_lerobot_dataset(out) and not (out / "data" / ".lnn_drive_staging").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lr", "src"]
