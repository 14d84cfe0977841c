"""Importers write the project's format through LogWriter; bad input fails loudly and
leaves no output behind."""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np
import pytest

from lnn_drive.data import DrivingLog, LogFormatError
from lnn_drive.data.importers import (
    UdacityImportConfig,
    VideoImportConfig,
    check_label,
    decode_image,
    import_udacity,
    import_video,
    resolve_frame_path,
)
from lnn_drive.data.units import steering_to_curvature

H, W = 32, 64


def _img(v: int) -> np.ndarray:
    img = np.zeros((H, W, 3), np.uint8)
    img[..., 1] = v
    img[:, : W // 2, 0] = 200  # left half differs in red: checks RGB order survives
    return img


def _stamp(i: int) -> str:
    return f"2016_12_01_13_30_{48 + i // 10:02d}_{(i % 10) * 100:03d}"


def make_udacity(
    tmp_path: Path,
    n: int = 12,
    *,
    header: bool = True,
    style: str = "relative",
    gap_after: int | None = None,
) -> Path:
    """A Udacity-style log: IMG/{center,left,right}_<stamp>.jpg (stored as PNG bytes so
    the pixel values survive) and driving_log.csv."""
    log_dir = tmp_path / "udacity"
    (log_dir / "IMG").mkdir(parents=True)
    rows = []
    for i in range(n):
        j = i + (20 if gap_after is not None and i > gap_after else 0)  # 2 s pause
        names = {}
        for k, cam in enumerate(("center", "left", "right")):
            name = f"{cam}_{_stamp(j)}.jpg"
            ok, buf = cv2.imencode(".png", cv2.cvtColor(_img(10 * i + k), cv2.COLOR_RGB2BGR))
            (log_dir / "IMG" / name).write_bytes(buf.tobytes())
            if style == "relative":
                names[cam] = f"IMG/{name}"
            elif style == "windows":
                names[cam] = f"C:\\Users\\driver\\Desktop\\data\\IMG\\{name}"
            elif style == "posix_other_machine":
                names[cam] = f"/home/someone/udacity/IMG/{name}"
            else:
                names[cam] = str(log_dir / "IMG" / name)
        rows.append(
            [
                names["center"],
                " " + names["left"],
                " " + names["right"],
                0.1 * (i % 3) - 0.1,
                0.5,
                0,
                20,
            ]
        )
    with open(log_dir / "driving_log.csv", "w", newline="") as f:
        wr = csv.writer(f)
        if header:
            wr.writerow(["center", "left", "right", "steering", "throttle", "brake", "speed"])
        wr.writerows(rows)
    return log_dir


@pytest.mark.parametrize("header", [True, False])
@pytest.mark.parametrize("style", ["relative", "absolute", "windows", "posix_other_machine"])
def test_udacity_import(tmp_path: Path, header: bool, style: str) -> None:
    log_dir = make_udacity(tmp_path, header=header, style=style)
    out = tmp_path / "out"
    s = import_udacity(UdacityImportConfig(log_dir=str(log_dir), out=str(out)))
    assert s.episodes == 1 and s.frames == 12
    d = DrivingLog(out)
    ep = d.episodes[0]
    frames = d.frames(ep)
    assert frames.shape == (12, H, W, 3)
    np.testing.assert_array_equal(frames[5], _img(50))
    sig = d.signals(ep)
    norm = np.array([0.1 * (i % 3) - 0.1 for i in range(12)])
    expect = (
        -np.tan(norm * np.deg2rad(25.0)) / 2.7
    )  # positive normalised = right = negative curvature
    np.testing.assert_allclose(sig["steering"], expect, rtol=1e-9)
    np.testing.assert_allclose(sig["speed"], 20 * 0.44704)
    np.testing.assert_allclose(np.diff(sig["timestamp"]), 0.1, atol=1e-6)
    assert d.meta.signals["steering"] == "1/m"


def test_udacity_side_cameras_and_segments(tmp_path: Path) -> None:
    log_dir = make_udacity(tmp_path, gap_after=5)
    out = tmp_path / "out"
    s = import_udacity(
        UdacityImportConfig(
            log_dir=str(log_dir),
            out=str(out),
            cameras=["center", "left", "right"],
            side_correction=0.2,
        )
    )
    d = DrivingLog(out)
    assert s.episodes == 6 and s.frames == 36
    cams = [(e.meta["camera"], e.meta["group"], e.num_frames) for e in d.episodes]
    assert cams[:3] == [
        ("center", "segment_0000", 6),
        ("left", "segment_0000", 6),
        ("right", "segment_0000", 6),
    ]
    assert cams[3][1] == "segment_0001" and cams[3][2] == 6
    c, lft, r = (d.signals(e)["steering"] for e in d.episodes[:3])
    np.testing.assert_allclose(
        lft,
        steering_to_curvature(
            np.array([-0.1, 0, 0.1, -0.1, 0, 0.1]) + 0.2,
            unit="normalized",
            max_steer_deg=25,
            wheelbase_m=2.7,
            sign=-1,
        ),
    )
    assert (lft < c).all() and (r > c).all()  # left camera steers more to the right
    np.testing.assert_array_equal(d.frames(d.episodes[1])[0], _img(1))  # left camera image


def _rewrite_csv(log_dir: Path, fn) -> None:
    p = log_dir / "driving_log.csv"
    rows = list(csv.reader(p.read_text().splitlines()))
    with open(p, "w", newline="") as f:
        csv.writer(f).writerows(fn(rows))


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (
            lambda r: [r[0][:3] + r[0][4:], *[x[:3] + x[4:] for x in r[1:]]],
            "header lacks columns \\['steering'\\]",
        ),
        (lambda r: [*r[:4], [*r[4][:3], "nan", *r[4][4:]], *r[5:]], "line 5: steering 'nan'"),
        (
            lambda r: [*r[:4], [*r[4][:3], "abc", *r[4][4:]], *r[5:]],
            "line 5: steering 'abc' is not a number",
        ),
        (lambda r: [*r[:3], r[3][:5], *r[4:]], "line 4: 5 columns, expected 7"),
        (
            lambda r: [*r[:2], ["../../etc/passwd", *r[2][1:]], *r[3:]],
            "line 3, center: image path .* outside the log folder",
        ),
        (
            lambda r: [*r[:2], ["IMG/missing.jpg", *r[2][1:]], *r[3:]],
            "line 3, center: image 'IMG/missing.jpg' not found",
        ),
        (lambda r: r[:1], "header but no data rows"),
        (lambda r: [r[0], r[2], r[1], *r[3:]], "line 3: image timestamp does not increase"),
    ],
)
def test_udacity_bad_input(tmp_path: Path, edit, match) -> None:
    log_dir = make_udacity(tmp_path)
    _rewrite_csv(log_dir, edit)
    out = tmp_path / "out"
    with pytest.raises(LogFormatError, match=match) as e:
        import_udacity(UdacityImportConfig(log_dir=str(log_dir), out=str(out)))
    assert "driving_log.csv" in str(e.value)
    assert not out.exists() and not (tmp_path / "out.incomplete").exists()


def test_udacity_corrupt_image_fails_whole_import(tmp_path: Path) -> None:
    log_dir = make_udacity(tmp_path)
    victim = sorted((log_dir / "IMG").glob("center_*"))[7]
    victim.write_bytes(b"garbage")
    out = tmp_path / "out"
    with pytest.raises(LogFormatError, match=f"{victim.name}: cannot decode image .*line 9"):
        import_udacity(UdacityImportConfig(log_dir=str(log_dir), out=str(out)))
    assert not out.exists() and not (tmp_path / "out.incomplete").exists()


def test_absolute_path_outside_log_folder_is_rejected(tmp_path: Path) -> None:
    log_dir = tmp_path / "log"
    log_dir.mkdir()
    outside = tmp_path / "secret.jpg"
    outside.write_bytes(b"x")
    with pytest.raises(LogFormatError, match="outside the log folder"):
        resolve_frame_path(str(outside), log_dir, where="row 1")
    (log_dir / "link.jpg").symlink_to(outside)
    with pytest.raises(LogFormatError, match="outside the log folder"):
        resolve_frame_path("link.jpg", log_dir, where="row 1")


# ---------------------------------------------------------------- video + CSV


def make_video(path: Path, n: int, fps: float = 10.0, fourcc: str = "FFV1") -> None:
    wr = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (W, H))
    for i in range(n):
        wr.write(cv2.cvtColor(_img(5 * i), cv2.COLOR_RGB2BGR))
    wr.release()


def make_controls(path: Path, times, steering, speed=None) -> None:
    with open(path, "w", newline="") as f:
        wr = csv.writer(f)
        wr.writerow(["timestamp", "steering", "speed"])
        for k, (t, s) in enumerate(zip(times, steering, strict=True)):
            wr.writerow([t, s, 10.0 if speed is None else speed[k]])


def test_video_import_linear_and_nearest(tmp_path: Path) -> None:
    video = tmp_path / "drive.mkv"
    make_video(video, 20, fps=10)
    ctrl = tmp_path / "ctrl.csv"
    times = np.arange(0, 1.21, 0.04)  # 25 Hz controls covering frames 0..12
    make_controls(ctrl, times, 0.01 * times)
    out = tmp_path / "lin"
    s = import_video(
        VideoImportConfig(video=str(video), controls=str(ctrl), out=str(out), align="linear")
    )
    assert s.frames == 13 and "trimmed 0 frame(s) before and 7 after" in s.notes[0]
    d = DrivingLog(out)
    sig = d.signals(d.episodes[0])
    np.testing.assert_allclose(sig["timestamp"], np.arange(13) / 10)
    np.testing.assert_allclose(sig["steering"], 0.01 * np.arange(13) / 10, atol=1e-12)
    np.testing.assert_array_equal(d.frames(d.episodes[0])[4], _img(20))

    out2 = tmp_path / "near"
    make_controls(ctrl, [0.0, 0.26, 0.5, 0.74, 1.0], [0, 1, 2, 3, 4])
    import_video(
        VideoImportConfig(
            video=str(video), controls=str(ctrl), out=str(out2), align="nearest", max_gap_s=0.2
        )
    )
    sig = DrivingLog(out2).signals(DrivingLog(out2).episodes[0])
    np.testing.assert_allclose(sig["steering"], [0, 0, 1, 1, 2, 2, 2, 3, 3, 4, 4])


def test_video_import_converts_units_and_offsets_time(tmp_path: Path) -> None:
    video = tmp_path / "drive.mkv"
    make_video(video, 10, fps=10)
    ctrl = tmp_path / "ctrl.csv"
    make_controls(
        ctrl, np.arange(5000, 6001, 50), np.full(21, 10.0), np.full(21, 36.0)
    )  # ms, degrees, km/h
    out = tmp_path / "out"
    import_video(
        VideoImportConfig(
            video=str(video),
            controls=str(ctrl),
            out=str(out),
            time_scale=1e-3,
            video_start=5.0,
            steering_unit="angle_deg",
            wheelbase_m=2.0,
            speed_unit="km/h",
        )
    )
    sig = DrivingLog(out).signals(DrivingLog(out).episodes[0])
    np.testing.assert_allclose(sig["steering"], np.tan(np.deg2rad(10)) / 2.0)
    np.testing.assert_allclose(sig["speed"], 10.0)
    assert sig["timestamp"][0] == pytest.approx(5.0)


def test_video_bad_input(tmp_path: Path) -> None:
    video = tmp_path / "drive.mp4"
    make_video(video, 30, fourcc="mp4v")
    ctrl = tmp_path / "ctrl.csv"
    make_controls(ctrl, np.arange(0, 3.01, 0.1), np.zeros(31))
    out = tmp_path / "out"

    def run(**kw):
        cfg = {"video": str(video), "controls": str(ctrl), "out": str(out), **kw}
        with pytest.raises(LogFormatError) as e:
            import_video(VideoImportConfig(**cfg))
        assert not out.exists() and not (tmp_path / "out.incomplete").exists()
        return str(e.value)

    data = video.read_bytes()
    video.write_bytes(data[: len(data) * 2 // 3])
    assert "drive.mp4" in run() and "truncated" in run()
    video.write_bytes(b"\x00" * 1000)
    assert "cannot open video" in run()
    make_video(video, 30, fourcc="mp4v")
    assert "outside the controls' time range" in run(out_of_range="error", video_start=-1.0)
    # a hole in the controls
    make_controls(ctrl, [0, 0.1, 0.2, 1.5, 1.6, 3.0], np.zeros(6))
    msg = run(max_gap_s=0.25)
    assert "gap between control rows" in msg and "frame 3" in msg
    # bad CSVs
    ctrl.write_text("timestamp,steer\n0,0\n1,0\n")
    assert "missing columns ['steering', 'speed']" in run()
    ctrl.write_text("timestamp,steering,speed\n0,0,1\n0.1,NaN,1\n0.2,0,1\n")
    assert "line 3: steering 'NaN'" in run()
    ctrl.write_text("timestamp,steering,speed\n0,0,1\n0.1,x,1\n")
    assert "ctrl.csv, line 3: steering 'x' is not a number" in run()


# ---------------------------------------------------------------- strictness


def test_decode_image_is_strict_and_tells_formats_by_content(tmp_path: Path) -> None:
    img = np.full((8, 8, 3), 90, np.uint8)
    jpg = cv2.imencode(".jpg", img)[1].tobytes()
    png = cv2.imencode(".png", img)[1].tobytes()
    p = tmp_path / "a.jpg"
    for data in (jpg, jpg + b"\x00" * 16, png):  # zero padding after EOI; PNG named .jpg
        p.write_bytes(data)
        assert decode_image(p, where="line 2").shape == (8, 8, 3)
    for data, match in [
        (jpg[: len(jpg) - 40], "truncated JPEG"),
        (png[:-20], "truncated PNG"),
        (b"", "empty image file"),
        (b"GIF89a-garbage", "cannot decode image"),
    ]:
        p.write_bytes(data)
        with pytest.raises(LogFormatError, match=f"a.jpg: {match}.*line 2"):
            decode_image(p, where="line 2")


@pytest.mark.parametrize(
    ("name", "value", "unit", "ok"),
    [
        ("steering", 1.0, "normalized", True),
        ("steering", -1.01, "normalized", False),
        ("steering", 89.9, "angle_deg", True),
        ("steering", 90.0, "angle_deg", False),
        ("steering", 1.6, "angle_rad", False),
        ("steering", 50.0, "curvature", True),  # curvature has no wrap-around
        ("throttle", 1.0, None, True),
        ("throttle", -0.1, None, False),
        ("brake", 1.2, None, False),
        ("speed", -0.5, None, False),
        ("yaw_rate", -9.0, None, True),
    ],
)
def test_check_label(name: str, value: float, unit: str | None, ok: bool) -> None:
    if ok:
        check_label(name, value, where="row 3", steering_unit=unit)
    else:
        with pytest.raises(LogFormatError, match=f"row 3: {name} {value:g}.* is outside"):
            check_label(name, value, where="row 3", steering_unit=unit)


def test_csvs_with_an_excel_bom_import(tmp_path: Path) -> None:
    log_dir = make_udacity(tmp_path)
    p = log_dir / "driving_log.csv"
    p.write_bytes(b"\xef\xbb\xbf" + p.read_bytes())
    assert (
        import_udacity(UdacityImportConfig(log_dir=str(log_dir), out=str(tmp_path / "u"))).frames
        == 12
    )
    video, ctrl = tmp_path / "v.mkv", tmp_path / "c.csv"
    make_video(video, 10)
    make_controls(ctrl, [0.1 * i for i in range(11)], [0] * 11)
    ctrl.write_bytes(b"\xef\xbb\xbf" + ctrl.read_bytes())
    cfg = VideoImportConfig(video=str(video), controls=str(ctrl), out=str(tmp_path / "v"))
    assert import_video(cfg).frames == 10


def test_import_overwrite_replaces_only_its_own_dataset(tmp_path: Path) -> None:
    log_dir = make_udacity(tmp_path)
    out = tmp_path / "out"
    import_udacity(UdacityImportConfig(log_dir=str(log_dir), out=str(out)))
    s = import_udacity(
        UdacityImportConfig(log_dir=str(log_dir), out=str(out), cameras=["left"], overwrite=True)
    )
    assert s.frames == 12 and DrivingLog(out).episodes[0].meta["camera"] == "left"
    with pytest.raises(LogFormatError, match="is the input"):
        import_udacity(UdacityImportConfig(log_dir=str(log_dir), out=str(log_dir), overwrite=True))
    assert (log_dir / "IMG").is_dir() and (log_dir / "driving_log.csv").is_file()
