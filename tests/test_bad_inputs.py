"""The table of bad inputs, each run through a real command (``lnn_drive.commands.main``).

Every case must end with exit status 2, exactly one ``error:`` line on stderr (file
descriptor 2, so a C library's warnings count too; progress-bar redraws aside) that names
what is at fault (the file, row or option), no traceback, and the files under the test's
folder exactly as they were before (nothing written at ``out=``, no input lost). Adding a
bad input is one line in :data:`CASES`: a command, a function building the inputs in a
temporary folder and returning the command's arguments, and the text the error must name.

Commands run in-process through the dispatcher, so the table stays fast;
:func:`test_subprocess_bad_input` runs one case as a real process through its script.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from lnn_drive import PROJECT_ROOT
from lnn_drive.commands import main
from lnn_drive.data import LogWriter
from tests.commands.test_dispatch import _ckpt, _lstm_controller, _nan, _pickle
from tests.data.test_importers import make_controls, make_udacity, make_video

SCRIPTS = PROJECT_ROOT / "scripts"
HYDRA_OUT = "hydra_outputs"
_PROGRESS = re.compile(
    r"\[\d+:\d\d"
)  # tqdm's elapsed-time field, e.g. "[00:00<00:01"  # the run directories, left out of the before/after comparison


@dataclass
class Bad:
    """One prepared bad input: the command's arguments and what must outlive the run."""

    argv: list[str]
    hold: list[Any] = field(default_factory=list)  # e.g. a LogWriter holding out=


Build = Callable[[Path], Bad]

# ------------------------------------------------------------------ input builders


def _udacity(
    t: Path,
    *,
    rows: Callable[[list[list[str]]], list[list[str]]] | None = None,
    image: Callable[[Path], None] | None = None,
    out: Callable[[Path], Path] | None = None,
    raw_csv: Callable[[bytes], bytes] | None = None,
    args: tuple[str, ...] = (),
) -> Bad:
    """A valid Udacity log under ``t/udacity``, then one thing made bad: ``rows`` edits the
    CSV rows, ``image`` the 8th centre image, ``raw_csv`` the CSV bytes, ``out`` picks
    the destination (default ``t/out``)."""
    log_dir = make_udacity(t)
    csv_path = log_dir / "driving_log.csv"
    if rows is not None:
        body = list(csv.reader(csv_path.read_text().splitlines()))
        with open(csv_path, "w", newline="") as f:
            csv.writer(f).writerows(rows(body))
    if raw_csv is not None:
        csv_path.write_bytes(raw_csv(csv_path.read_bytes()))
    if image is not None:
        image(sorted((log_dir / "IMG").glob("center_*"))[7])
    dest = out(t) if out is not None else t / "out"
    return Bad([f"log_dir={log_dir}", f"out={dest}", *args])


def _video(
    t: Path,
    *,
    times: list[float] | None = None,
    steering: list[float] | None = None,
    raw_csv: Callable[[bytes], bytes] | None = None,
    out: Callable[[Path], Path] | None = None,
    args: tuple[str, ...] = (),
) -> Bad:
    """A 10-frame video ``t/in/v.mkv`` and controls ``t/in/c.csv``, one thing made bad."""
    (t / "in").mkdir()
    video, ctrl = t / "in" / "v.mkv", t / "in" / "c.csv"
    make_video(video, 10)
    times = times or [0.1 * i for i in range(11)]
    make_controls(ctrl, times, steering or [0.0] * len(times))
    if raw_csv is not None:
        ctrl.write_bytes(raw_csv(ctrl.read_bytes()))
    dest = out(t) if out is not None else t / "out"
    return Bad([f"video={video}", f"controls={ctrl}", f"out={dest}", *args])


def _frame(i: int) -> np.ndarray:
    img = np.zeros((24, 64, 3), np.uint8)
    img[..., 1] = 7 * i
    return img


def _dataset(t: Path, name: str = "ds") -> Path:
    """A valid two-episode dataset written by the real LogWriter."""
    root = t / name
    with LogWriter(
        root, height=24, width=64, fps=10, signals={"steering": "1/m"}, source="test"
    ) as log:
        for _ in range(2):
            with log.episode() as ep:
                for j in range(12):
                    ep.append(_frame(j), timestamp=j / 10, steering=0.01 * j)
    return root


def _edit_json(path: Path, fn: Callable[[dict[str, Any]], None]) -> None:
    d = json.loads(path.read_text())
    fn(d)
    path.write_text(json.dumps(d))


def _inspect(
    t: Path,
    edit: Callable[[Path], None],
    *,
    command_args: Callable[[Path], list[str]] | None = None,
) -> Bad:
    root = _dataset(t)
    edit(root)
    argv = command_args(root) if command_args else [f"root={root}", f"out_dir={t / 'out'}"]
    return Bad(argv)


def _episode_name(name: str) -> Callable[[Path], None]:
    def edit(root: Path) -> None:
        _edit_json(root / "dataset.json", lambda d: d["episodes"][1].update(name=name))

    return edit


def _camera(height: object) -> Callable[[dict[str, Any]], None]:
    return lambda d: d["camera"].update(height=height)


def _symlinked_episode(root: Path) -> None:
    outside = root.parent / "elsewhere"
    (root / "episodes" / "ep_00001").rename(outside)
    (root / "episodes" / "ep_00001").symlink_to(outside)


def _symlinked_file(name: str) -> Callable[[Path], None]:
    """Replace an episode's file by a link to a copy outside the dataset."""

    def edit(root: Path) -> None:
        f = root / "episodes" / "ep_00001" / name
        outside = root.parent / f"elsewhere_{name}"
        f.rename(outside)
        f.symlink_to(outside)

    return edit


def _episode_json(text: str) -> Callable[[Path], None]:
    def edit(root: Path) -> None:
        (root / "episodes" / "ep_00001" / "episode.json").write_text(text)

    return edit


def _latin1_signals(root: Path) -> None:
    p = root / "episodes" / "ep_00001" / "signals.csv"
    p.write_bytes(p.read_bytes() + "caf\xe9\n".encode("latin-1"))


def _train(t: Path, edit: Callable[[Path], None]) -> Bad:
    root = _dataset(t)
    edit(root)
    return Bad([f"data.roots=[{root}]", "train.max_steps=1", "train.progress=false"])


def _truncate(p: Path) -> None:
    ok, buf = cv2.imencode(".jpg", np.full((32, 64, 3), 128, np.uint8))
    p.write_bytes(buf.tobytes()[: len(buf) // 2])


def _set(col: int, value: str, line: int = 5) -> Callable[[list[list[str]]], list[list[str]]]:
    """Set column ``col`` of CSV line ``line`` (1-based, header is line 1)."""

    def edit(rows: list[list[str]]) -> list[list[str]]:
        rows[line - 1][col] = value
        return rows

    return edit


def _foreign_folder(t: Path) -> Path:
    thesis = t / "thesis"
    thesis.mkdir()
    (thesis / "chapter1.tex").write_text("years of work")
    return thesis


def _dataset_around_input(t: Path) -> Path:
    """A folder that looks like one of our datasets but holds the input log."""
    (t / "dataset.json").write_text(json.dumps({"format": "lnn_drive.log"}))
    return t


def _hold(out: Path) -> LogWriter:
    """Another writer, busy writing ``out``."""
    return LogWriter(out, height=8, width=8, fps=1, signals={"x": "1"}, source="x")


def _held(t: Path) -> Bad:
    """A second writer to an ``out=`` another writer holds."""
    bad = _udacity(t)
    bad.hold.append(_hold(t / "out"))
    return bad


def _export(
    t: Path, out: Callable[[Path], Path], *, overwrite: bool = True, hold: bool = False
) -> Bad:
    """Export the dataset ``t/parent/ds`` to ``out(t)`` (made by ``out``), with overwrite=true."""
    root = _dataset(t, "parent/ds")
    bad = Bad([f"root={root}", f"out={out(t)}", f"overwrite={str(overwrite).lower()}"])
    if hold:
        bad.hold.append(_hold(t / "out"))
    return bad


def _import_into_source(t: Path, out: Callable[[Path], Path] = lambda src: src) -> Bad:
    """A real LeRobot export at ``t/lerobot`` imported with overwrite=true to ``out(src)``
    (default: onto itself)."""
    pytest.importorskip("pyarrow")
    from lnn_drive.data.lerobot import LeRobotExportConfig, export_lerobot

    src = export_lerobot(
        LeRobotExportConfig(root=str(_dataset(t)), out=str(t / "lerobot"), codec="h264_lossless")
    ).out
    return Bad([f"root={src}", f"out={out(src)}", "overwrite=true"])


#: id -> (command, build the inputs, text(s) the error line must contain)
CASES: dict[str, tuple[str, Build, str | tuple[str, ...]]] = {
    # ---- overwrite safety: out= may only replace a dataset, never an input
    "udacity/out-is-log_dir": (
        "import-udacity",
        lambda t: _udacity(t, out=lambda t: t / "udacity", args=("overwrite=true",)),
        ("udacity is the input", "write the dataset to a folder of its own"),
    ),
    "udacity/out-inside-log_dir": (
        "import-udacity",
        lambda t: _udacity(t, out=lambda t: t / "udacity" / "IMG", args=("overwrite=true",)),
        ("IMG lies inside the input",),
    ),
    "udacity/out-contains-log_dir": (
        "import-udacity",
        lambda t: _udacity(t, out=_dataset_around_input, args=("overwrite=true",)),
        ("contains the input",),
    ),
    "udacity/out-is-foreign-folder": (
        "import-udacity",
        lambda t: _udacity(t, out=_foreign_folder, args=("overwrite=true",)),
        ("thesis is not an lnn_drive dataset", "nothing was deleted"),
    ),
    "udacity/out-exists": (
        "import-udacity",
        lambda t: _udacity(t, out=_foreign_folder),
        ("thesis exists; choose another path or pass overwrite=true",),
    ),
    "udacity/out-held-by-another-writer": (
        "import-udacity",
        _held,
        ("out is being written by another process", "out.lock"),
    ),
    "collect/out-is-foreign-folder": (
        "collect",
        lambda t: Bad([f"out={_foreign_folder(t)}", "overwrite=true", "episodes=1", "steps=2"]),
        ("thesis is not an lnn_drive dataset",),
    ),
    "collect/out-held-by-another-writer": (
        "collect",
        lambda t: Bad([f"out={t / 'out'}", "episodes=1", "steps=2"], hold=[_hold(t / "out")]),
        ("out is being written by another process",),
    ),
    "export-lerobot/out-is-foreign-folder": (
        "export-lerobot",
        lambda t: _export(t, _foreign_folder),
        ("thesis is not a LeRobot dataset", "nothing was deleted"),
    ),
    "export-lerobot/out-is-source": (
        "export-lerobot",
        lambda t: _export(t, lambda t: t / "parent" / "ds"),
        ("ds is the input", "write the dataset to a folder of its own"),
    ),
    "export-lerobot/out-contains-source": (
        "export-lerobot",
        lambda t: _export(t, lambda t: t / "parent"),
        ("parent contains the input",),
    ),
    "export-lerobot/out-inside-source": (
        "export-lerobot",
        lambda t: _export(t, lambda t: t / "parent" / "ds" / "episodes"),
        ("episodes lies inside the input",),
    ),
    "export-lerobot/new-out-inside-source": (
        "export-lerobot",
        lambda t: _export(t, lambda t: t / "parent" / "ds" / "lerobot", overwrite=False),
        ("must lie outside the source dataset",),
    ),
    "export-lerobot/out-held-by-another-exporter": (
        "export-lerobot",
        lambda t: _export(t, lambda t: t / "out", hold=True),
        ("out is being written by another process", "out.lock"),
    ),
    "export-lerobot/foreign-folder-named-like-staging": (
        "export-lerobot",
        lambda t: _export(
            t, lambda t: _foreign_folder(t).rename(t / "dest.incomplete").parent / "dest"
        ),
        ("dest.incomplete exists and is not a staging folder of this project",),
    ),
    "import-lerobot/out-is-source": (
        "import-lerobot",
        _import_into_source,
        ("lerobot is the input", "write the dataset to a folder of its own"),
    ),
    "import-lerobot/out-contains-source": (
        "import-lerobot",
        lambda t: _import_into_source(t, out=lambda src: src.parent),
        ("contains the input",),
    ),
    "udacity/out-under-a-file": (
        "import-udacity",
        lambda t: _udacity(t, out=lambda t: t / "udacity" / "driving_log.csv" / "out"),
        "cannot create its folder",
    ),
    # ---- images: strict decoding
    "udacity/truncated-jpeg": (
        "import-udacity",
        lambda t: _udacity(t, image=_truncate),
        (".jpg: truncated JPEG (no end-of-image marker", "driving_log.csv, line 9"),
    ),
    "udacity/zero-byte-image": (
        "import-udacity",
        lambda t: _udacity(t, image=lambda p: p.write_bytes(b"")),
        (".jpg: empty image file", "driving_log.csv, line 9"),
    ),
    "udacity/garbage-image": (
        "import-udacity",
        lambda t: _udacity(t, image=lambda p: p.write_bytes(b"not an image at all")),
        (".jpg: cannot decode image", "driving_log.csv, line 9"),
    ),
    "udacity/truncated-png": (
        "import-udacity",
        lambda t: _udacity(t, image=lambda p: p.write_bytes(p.read_bytes()[:-30])),
        (".jpg: truncated PNG", "driving_log.csv, line 9"),
    ),
    # ---- labels: ranges, numbers, encoding
    "udacity/steering-50": (
        "import-udacity",
        lambda t: _udacity(t, rows=_set(3, "50")),
        "driving_log.csv, line 5: steering 50",
    ),
    "udacity/steering-inf": (
        "import-udacity",
        lambda t: _udacity(t, rows=_set(3, "inf")),
        "line 5: steering 'inf'",
    ),
    "udacity/throttle-1.5": (
        "import-udacity",
        lambda t: _udacity(t, rows=_set(4, "1.5")),
        "line 5: throttle 1.5",
    ),
    "udacity/brake-negative": (
        "import-udacity",
        lambda t: _udacity(t, rows=_set(5, "-0.2")),
        "line 5: brake -0.2",
    ),
    "udacity/speed-negative": (
        "import-udacity",
        lambda t: _udacity(t, rows=_set(6, "-3")),
        "line 5: speed -3",
    ),
    "udacity/speed-nan": (
        "import-udacity",
        lambda t: _udacity(t, rows=_set(6, "nan")),
        "line 5: speed 'nan'",
    ),
    "udacity/csv-not-utf8": (
        "import-udacity",
        lambda t: _udacity(
            t, raw_csv=lambda b: b + "IMG/caf\xe9.jpg,,,0,0,0,0\n".encode("latin-1")
        ),
        "driving_log.csv, line 14: not UTF-8",
    ),
    "udacity/csv-with-nul-byte": (
        "import-udacity",
        lambda t: _udacity(t, raw_csv=lambda b: b + b"IMG/a\x00.jpg,,,0,0,0,0\n"),
        "driving_log.csv, line 14: not a CSV row",
    ),
    # ---- options
    "udacity/no-log_dir": (
        "import-udacity",
        lambda t: Bad([f"out={t / 'out'}"]),
        "missing required option(s): log_dir",
    ),
    "udacity/bad-camera": (
        "import-udacity",
        lambda t: _udacity(t, args=("cameras=[top]",)),
        "cameras",
    ),
    "udacity/cameras-a-string": (
        "import-udacity",
        lambda t: _udacity(t, args=("cameras=center",)),
        "cameras: expected list[str], got 'center'",
    ),
    "udacity/fps-not-a-number": (
        "import-udacity",
        lambda t: _udacity(t, args=("fps=abc",)),
        "fps: expected float, got 'abc'",
    ),
    # ---- video importer
    "video/out-is-input-folder": (
        "import-video",
        lambda t: _video(t, out=lambda t: t / "in", args=("overwrite=true",)),
        ("in contains the input",),
    ),
    "video/out-is-video-file": (
        "import-video",
        lambda t: _video(t, out=lambda t: t / "in" / "v.mkv", args=("overwrite=true",)),
        ("v.mkv is the input",),
    ),
    "video/steering-95-deg": (
        "import-video",
        lambda t: _video(
            t, steering=[0.0] * 5 + [95.0] + [0.0] * 5, args=("steering_unit=angle_deg",)
        ),
        "c.csv, line 7, column steering: steering 95",
    ),
    "video/normalised-steering-50": (
        "import-video",
        lambda t: _video(t, steering=[0.0, 50.0] + [0.0] * 9, args=("steering_unit=normalized",)),
        "c.csv, line 3, column steering: steering 50",
    ),
    "video/csv-not-utf8": (
        "import-video",
        lambda t: _video(
            t, raw_csv=lambda b: b.replace(b"steering", "st\xe9ering".encode("latin-1"))
        ),
        "c.csv, line 1: not UTF-8",
    ),
    # ---- reader (inspect): containment and malformed metadata
    "inspect/episode-name-dotdot": (
        "inspect",
        lambda t: _inspect(t, _episode_name("../x")),
        "dataset.json, episodes[1]: episode name '../x'",
    ),
    "inspect/episode-name-absolute": (
        "inspect",
        lambda t: _inspect(t, _episode_name("/etc")),
        "episode name '/etc'",
    ),
    "inspect/episode-symlink-escapes": (
        "inspect",
        lambda t: _inspect(t, _symlinked_episode),
        ("dataset.json, episodes[1]: episode ep_00001 resolves to", "outside"),
    ),
    "inspect/episode-listed-twice": (
        "inspect",
        lambda t: _inspect(t, _episode_name("ep_00000")),
        "episodes[1]: episode ep_00000 is listed twice",
    ),
    "inspect/signals-symlink-escapes": (
        "inspect",
        lambda t: _inspect(t, _symlinked_file("signals.csv")),
        ("ep_00001/signals.csv: a symbolic link to", "outside the episode"),
    ),
    "inspect/episode-json-symlink-escapes": (
        "inspect",
        lambda t: _inspect(t, _symlinked_file("episode.json")),
        ("ep_00001/episode.json: a symbolic link out of the episode",),
    ),
    "inspect/episode-json-invalid": (
        "inspect",
        lambda t: _inspect(t, _episode_json("{not json")),
        "ep_00001/episode.json: invalid JSON",
    ),
    "inspect/episode-json-mistyped": (
        "inspect",
        lambda t: _inspect(t, _episode_json('{"num_frames": "twelve", "duration_s": 1.1}')),
        "ep_00001/episode.json: num_frames must be a positive integer, got 'twelve'",
    ),
    "inspect/episode-json-not-object": (
        "inspect",
        lambda t: _inspect(t, _episode_json("[12]")),
        "ep_00001/episode.json: expected a JSON object",
    ),
    "inspect/signals-not-utf8": (
        "inspect",
        lambda t: _inspect(t, _latin1_signals),
        "ep_00001/signals.csv, line 14: not UTF-8",
    ),
    "inspect/dataset-json-version-text": (
        "inspect",
        lambda t: _inspect(
            t, lambda r: _edit_json(r / "dataset.json", lambda d: d.update(version="one"))
        ),
        "dataset.json: version must be an integer",
    ),
    "inspect/camera-size-huge": (
        "inspect",
        lambda t: _inspect(t, lambda r: _edit_json(r / "dataset.json", _camera(10**12))),
        "dataset.json: malformed dataset metadata (camera size must be within",
    ),
    "inspect/camera-size-bool": (
        "inspect",
        lambda t: _inspect(t, lambda r: _edit_json(r / "dataset.json", _camera(True))),
        "camera size must be integers",
    ),
    "inspect/signal-unit-not-text": (
        "inspect",
        lambda t: _inspect(
            t, lambda r: _edit_json(r / "dataset.json", lambda d: d.update(signals={"x": [1]}))
        ),
        "signal x: unit must be a string",
    ),
    "inspect/not-a-dataset": (
        "inspect",
        lambda t: _inspect(t, lambda r: (r / "dataset.json").unlink()),
        "dataset.json: not found",
    ),
    # ---- the command layer's own: Hydra errors and checkpoints refused at load
    "train/unknown-config-group": (
        "train",
        lambda t: Bad(["model=doesnotexist"]),
        "Could not find 'model/doesnotexist'",
    ),
    "evaluate/no-checkpoint": (
        "evaluate",
        lambda t: Bad([]),
        "missing required option(s): checkpoint",
    ),
    "evaluate/nan-weights": (
        "evaluate",
        lambda t: Bad([f"checkpoint={_ckpt(t, **{'model_state/controller.out_bias': _nan})}"]),
        ("ok.pt", "holds 1 NaN/inf"),
    ),
    "evaluate/other-model-type": (
        "evaluate",
        lambda t: Bad([f"checkpoint={_ckpt(t, **{'policy/model/controller': _lstm_controller})}"]),
        ("ok.pt", "policy.model"),
    ),
    "evaluate/pickle": (
        "evaluate",
        lambda t: Bad([f"checkpoint={_pickle(t)}"]),
        ("evil.pt", "will not be unpickled"),
    ),
    # ---- training reads its data roots through the same reader
    "train/episode-name-dotdot": (
        "train",
        lambda t: _train(t, _episode_name("../x")),
        "episode name '../x'",
    ),
    "train/signals-not-utf8": (
        "train",
        lambda t: _train(t, _latin1_signals),
        "signals.csv, line 14: not UTF-8",
    ),
}

# ------------------------------------------------------------------ running


def run_command(name: str, argv: list[str], tmp_path: Path) -> int:
    """Run command ``name`` in this process, as ``lnn-drive <name> argv`` would, with its
    run directory and caches under ``tmp_path/hydra_outputs``; returns its exit status."""
    out = tmp_path / HYDRA_OUT
    return main([name, f"hydra.run.dir={out / 'run'}", f"paths.cache_dir={out / 'cache'}", *argv])


def _snapshot(root: Path) -> dict[str, str]:
    """Every path under ``root`` (but the Hydra run directories) -> content digest."""
    out = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root)
        if rel.parts[0] == HYDRA_OUT:
            continue
        if p.is_symlink():
            out[str(rel)] = f"link:{p.readlink()}"
        elif p.is_dir():
            out[str(rel)] = "dir"
        else:
            out[str(rel)] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def _error_lines(err: str) -> list[str]:
    return [ln for ln in err.splitlines() if ln.startswith("error:")]


def _other_lines(err: str) -> list[str]:
    """Lines of ``err`` that are neither ``error:`` lines nor progress-bar redraws."""
    return [
        ln
        for ln in err.splitlines()
        if ln.strip() and not ln.startswith("error:") and not _PROGRESS.search(ln)
    ]


@pytest.mark.parametrize(("command", "build", "names"), CASES.values(), ids=CASES.keys())
def test_bad_input(
    command: str,
    build: Build,
    names: str | tuple[str, ...],
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
) -> None:
    bad = build(tmp_path)
    before = _snapshot(tmp_path)
    capfd.readouterr()
    try:
        code = run_command(command, bad.argv, tmp_path)
        err = capfd.readouterr().err
        assert code == 2, err
        errors = _error_lines(err)
        assert len(errors) == 1, err
        assert _other_lines(err) == [], err
        for part in (names,) if isinstance(names, str) else names:
            assert part in errors[0], errors[0]
        assert "Traceback" not in err
        assert _snapshot(tmp_path) == before  # nothing written, nothing lost
    finally:
        for h in bad.hold:
            h.abort()
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith("out")]
    assert leftovers == [], leftovers


def test_good_input_still_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The harness is not vacuous: the same builders without a fault exit 0 and write."""
    bad = _udacity(tmp_path)
    assert run_command("import-udacity", bad.argv, tmp_path) == 0
    assert (tmp_path / "out" / "dataset.json").is_file()
    # overwrite=true replaces a dataset of this format
    assert run_command("import-udacity", [*bad.argv, "overwrite=true"], tmp_path) == 0
    assert _error_lines(capsys.readouterr().err) == []


def test_subprocess_bad_input(tmp_path: Path) -> None:
    """The bar as a user meets it: out= equal to log_dir with overwrite=true."""
    bad = _udacity(tmp_path, out=lambda t: t / "udacity", args=("overwrite=true",))
    r = subprocess.run(
        [
            sys.executable,
            str(SCRIPTS / "import_udacity.py"),
            *bad.argv,
            f"paths.log_dir={tmp_path / HYDRA_OUT}",
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert r.returncode == 2, r.stderr
    assert len(_error_lines(r.stderr)) == 1 and "Traceback" not in r.stderr, r.stderr
    assert (tmp_path / "udacity" / "IMG").is_dir()
    assert (tmp_path / "udacity" / "driving_log.csv").is_file()


@pytest.mark.slow
def test_a_writer_in_another_process_is_not_destroyed(tmp_path: Path) -> None:
    """Two processes writing one out=: the second is refused; the first's staging lives."""
    bad = _udacity(tmp_path)
    holder = _hold(tmp_path / "out")  # this process is the first writer
    try:
        r = subprocess.run(
            [sys.executable, str(SCRIPTS / "import_udacity.py"), *bad.argv, "overwrite=true"]
            + [f"hydra.run.dir={tmp_path / HYDRA_OUT}"],
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert r.returncode == 2, r.stderr
        assert _error_lines(r.stderr) == [
            f"error: {tmp_path / 'out'} is being written by another process "
            f"(lock {tmp_path / 'out.lock'} is held); wait for it to finish or choose another out="
        ]
        assert (tmp_path / "out.incomplete" / "episodes").is_dir()
    finally:
        holder.abort()
