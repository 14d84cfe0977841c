"""report.html: Markdown rendered, every figure and video embedded, nothing fetched."""

from __future__ import annotations

import base64
import re
import shutil
import subprocess
import tempfile
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from lnn_drive.eval.html_report import write_eval_report, write_html_report
from lnn_drive.eval.report import VideoSink


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def _png(path: Path, colour: tuple[int, int, int]) -> Path:
    import cv2

    img = np.zeros((40, 60, 3), np.uint8)
    img[:] = colour
    cv2.imwrite(str(path), img)
    return path


def _video(path: Path, n: int = 12) -> Path:
    with VideoSink(path, fps=10) as sink:
        for i in range(n):
            f = np.zeros((48, 64, 3), np.uint8)
            f[:, : 5 * i] = (200, 50, 50)
            sink.write(f)
    return path


def _parse(html_text: str) -> list[tuple[str, dict[str, str | None]]]:
    p = _Tags()
    p.feed(html_text)
    return p.tags


def test_markdown_tables_images_and_videos_are_embedded(tmp_path: Path) -> None:
    _png(tmp_path / "birdseye.png", (0, 200, 0))
    video = _video(tmp_path / "sub" / "drive.mp4")
    metrics = tmp_path / "metrics.csv"
    metrics.write_text("step,train/loss,val/loss\n1,2.0,\n5,1.0,1.5\n10,0.5,0.8\n")
    md = tmp_path / "report.md"
    md.write_text(
        "# Demo: ncp_cfc\n\nAutonomy **99.50%** on *held-out* roads.\n\n"
        "| condition | autonomy % | mean |offset| m |\n|---|---:|---:|\n| clean | 99.50 | 0 |\n| fog | 80.10 | 2 |\n\n"
        "![paths](birdseye.png)\n\nArtefacts:\n\n"
        f"- eval_video: `{video}`\n- checkpoint: `/nowhere/best.pt`\n\n```\npython scripts/demo.py\n```\n"
    )
    out = write_html_report(md, learning_curves={"run": metrics})
    assert out == tmp_path / "report.html"
    text = out.read_text()
    tags = _parse(text)
    imgs = [a["src"] for t, a in tags if t == "img"]
    vids = [a["src"] for t, a in tags if t == "video"]
    assert len(imgs) == 2  # the path plot and the learning curves
    assert all(s and s.startswith("data:image/png;base64,") for s in imgs)
    assert len(vids) == 1 and vids[0].startswith("data:video/webm;base64,")
    webm = base64.b64decode(vids[0].split(",", 1)[1])
    assert webm[:4] == b"\x1a\x45\xdf\xa3"  # EBML: a real WebM container
    # nothing refers outside the file
    assert not re.search(r'(src|href)="(?!data:)', text)
    assert "<th>mean |offset| m</th>" in text
    assert "<table>" in text and '<td class="num">99.50</td>' in text and "<td>clean</td>" in text
    assert "<strong>99.50%</strong>" in text and "<em>held-out</em>" in text
    assert "<pre><code>python scripts/demo.py" in text
    assert "<code>/nowhere/best.pt</code>" in text


def test_eval_report_has_robustness_chart(tmp_path: Path) -> None:
    bird = _png(tmp_path / "birdseye.png", (10, 10, 200))
    res = {
        "table": "| condition | autonomy % |\n|---|---:|\n| clean | 100.00 |\n| noise | 90.00 |",
        "metrics": {"clean": {"autonomy": 1.0}, "noise=0.1": {"autonomy": 0.9}},
        "files": {"birdseye": str(bird), "json": str(tmp_path / "metrics.json")},
    }
    html_path = write_eval_report(res, tmp_path, label="ncp_ltc")
    assert (tmp_path / "report.md").is_file() and (tmp_path / "robustness.png").is_file()
    imgs = [a["src"] for t, a in _parse(html_path.read_text()) if t == "img"]
    assert len(imgs) == 2


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.slow  # starts a browser
@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")
def test_renders_in_headless_chromium(tmp_path: Path) -> None:
    _png(tmp_path / "birdseye.png", (0, 0, 255))
    md = tmp_path / "report.md"
    md.write_text("# Report\n\n| a | b |\n|---|---:|\n| x | 1.0 |\n\n![p](birdseye.png)\n")
    html_path = write_html_report(md)
    shot = tmp_path / "shot.png"
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(
            [
                CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                "--disable-background-networking", "--disable-component-update", "--no-first-run",
                f"--user-data-dir={profile}", f"--screenshot={shot}", "--window-size=900,700",
                html_path.as_uri(),
            ],
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip
    import cv2

    img = cv2.imread(str(shot))
    assert img is not None and img.shape[:2] == (700, 900)
    # the embedded image (pure red in BGR terms: (0, 0, 255)) is on the page
    red = (img[..., 2] > 200) & (img[..., 1] < 60) & (img[..., 0] < 60)
    assert red.sum() > 500


def test_evaluate_command_writes_report_html(tmp_path: Path, run_command) -> None:
    from lnn_drive.train.checkpoint import save_checkpoint
    from tests.models.test_models import make_policy

    ck = save_checkpoint(tmp_path / "p.pt", policy=make_policy("feedforward"))
    code, out, err = run_command(
        [
            "evaluate", f"checkpoint={ck}", f"out_dir={tmp_path / 'ev'}",
            "eval.distance_km=0.01", "eval.drive_steps=40", "eval.video_steps=20",
            "eval.num_envs=1", "eval.vector=sync", "eval.progress=false",
            "eval.noise_variances=[0.1]",
        ]
    )  # fmt: skip
    assert code == 0, err
    page = (tmp_path / "ev" / "report.html").read_text()
    tags = _parse(page)
    assert sum(t == "img" for t, _ in tags) == 2  # robustness chart + bird's-eye plot
    assert sum(t == "video" for t, _ in tags) == 1
    assert "report_html" in out


def test_benchmark_report_html(tmp_path: Path) -> None:
    from lnn_drive.eval.benchmark import BenchmarkConfig
    from lnn_drive.eval.benchmark_report import write_report
    from lnn_drive.eval.evaluate import EvalConfig
    from tests.eval.test_benchmark_report import _run

    results = {
        "NCP (CfC)": [_run({"clean": 0.99, "noise=0.1": 0.90}, s) for s in range(2)],
        "LSTM-64": [_run({"clean": 0.97, "noise=0.1": 0.95}, s) for s in range(2)],
    }
    md = write_report(
        results,
        path=tmp_path / "benchmark.md",
        bcfg=BenchmarkConfig(models=["ncp_cfc", "lstm"]),
        ecfg=EvalConfig(),
        command="python scripts/benchmark.py",
        wall_s=60.0,
    )
    runs = tmp_path / "runs"
    for m in ("ncp_cfc", "lstm"):
        (runs / m / "seed0").mkdir(parents=True)
        (runs / m / "seed0" / "metrics.csv").write_text("step,train/loss,val/loss\n1,2,\n5,1,1.2\n")
    curves = {
        f"{p.parent.parent.name}/{p.parent.name}": p for p in runs.glob("*/seed*/metrics.csv")
    }
    page = write_html_report(md, learning_curves=curves).read_text()
    assert page.count("<table>") >= 4  # parameters, clean, robustness, interventions
    assert sum(t == "img" for t, _ in _parse(page)) == 2  # robustness figure + learning curves
    assert "<td>NCP (CfC)</td>" in page
