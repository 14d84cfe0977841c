"""A self-contained ``report.html`` beside a ``report.md``: readable offline, in any browser.

The Markdown the commands already write (headings, paragraphs, lists, pipe tables, code,
images) is rendered to HTML; every image it shows and every PNG / video file it names
(``![fig](x.png)``, ``- eval_birdseye: `/run/eval/birdseye.png` ``) is embedded as a
base64 ``data:`` URI, so the one file carries the tables, path plots, robustness charts,
learning curves, saliency grids and videos. Videos are re-encoded to WebM (VP8, which every
browser plays; the project's MP4s are MPEG-4 part 2, which browsers do not) with OpenCV.
No script, stylesheet or font is fetched from anywhere.
"""

from __future__ import annotations

import base64
import csv
import html
import math
import os
import re
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from lnn_drive.eval.figures import save_figure

IMAGE_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".svg": "image/svg+xml",
}
VIDEO_SUFFIXES = {".mp4", ".mkv", ".avi", ".webm", ".mov"}

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;max-width:1100px;margin:2em auto;
padding:0 1em;color:#1d1d1f;line-height:1.45}
h1{border-bottom:2px solid #ddd;padding-bottom:.3em}h2{margin-top:1.8em;border-bottom:1px solid #eee}
table{border-collapse:collapse;margin:1em 0;font-size:.92em}th,td{border:1px solid #d0d0d0;padding:.3em .6em}
th{background:#f3f4f6}td.num{text-align:right;font-variant-numeric:tabular-nums}tr:nth-child(even) td{background:#fafafa}
code{background:#f2f2f2;padding:.1em .3em;border-radius:3px;font-size:.9em;word-break:break-all}
pre{background:#f5f5f5;padding:.8em;overflow-x:auto}figure{margin:1em 0}figcaption{color:#666;font-size:.85em}
img,video{max-width:100%;border:1px solid #e5e5e5}.note{color:#777;font-size:.85em}
"""


def _data_uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def video_to_webm(path: Path, *, max_frames: int = 1800, max_width: int = 960) -> bytes | None:
    """Re-encode a video to WebM/VP8 (browser-playable) in memory; ``None`` if unreadable."""
    import cv2

    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        return None
    fps = cap.get(cv2.CAP_PROP_FPS) or 30.0
    with tempfile.TemporaryDirectory() as tmp:
        out_path = Path(tmp) / "v.webm"
        writer = None
        n = 0
        try:
            while n < max_frames:
                ok, frame = cap.read()
                if not ok:
                    break
                h, w = frame.shape[:2]
                if w > max_width:
                    frame = cv2.resize(
                        frame, (max_width, round(h * max_width / w)), interpolation=cv2.INTER_AREA
                    )
                    h, w = frame.shape[:2]
                if writer is None:
                    writer = cv2.VideoWriter(
                        str(out_path), cv2.VideoWriter_fourcc(*"VP80"), fps, (w, h)
                    )
                    if not writer.isOpened():
                        return None
                writer.write(frame)
                n += 1
        finally:
            cap.release()
            if writer is not None:
                writer.release()
        if n == 0 or not out_path.is_file():
            return None
        return out_path.read_bytes()


def _read_losses(src: Path) -> dict[str, tuple[list[float], list[float]]]:
    series: dict[str, tuple[list[float], list[float]]] = {}
    with open(src, newline="") as f:
        for row in csv.DictReader(f):
            for key in ("train/loss", "val/loss"):
                try:
                    step, val = float(row["step"]), float(row.get(key) or "nan")
                except (KeyError, TypeError, ValueError):
                    continue
                if math.isfinite(val):
                    xs, ys = series.setdefault(key, ([], []))
                    xs.append(step)
                    ys.append(val)
    return series


def plot_learning_curves(
    runs: Mapping[str, str | os.PathLike[str]], path: str | os.PathLike[str]
) -> Path | None:
    """``train/loss`` (thin) and ``val/loss`` (thick) against step for each run's
    ``metrics.csv``, in one PNG; ``None`` when no file holds a loss."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = {label: _read_losses(Path(p)) for label, p in runs.items() if Path(p).is_file()}
    data = {k: v for k, v in data.items() if v}
    if not data:
        return None
    fig, ax = plt.subplots(figsize=(7.5, 3.4))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (label, series) in enumerate(data.items()):
        c = colours[i % len(colours)]
        if "train/loss" in series:
            xs, ys = series["train/loss"]
            ax.plot(
                xs,
                ys,
                color=c,
                lw=0.8,
                alpha=0.5,
                label=f"{label} train" if len(data) < 5 else None,
            )
        if "val/loss" in series:
            xs, ys = series["val/loss"]
            ax.plot(xs, ys, color=c, lw=2, marker="o", ms=3, label=f"{label} val")
    ax.set_xlabel("optimiser step")
    ax.set_ylabel("loss (weighted, standardised)")
    ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    ax.set_title("Learning curves")
    return save_figure(fig, path)


def plot_robustness(
    metrics: Mapping[str, Mapping[str, float]], path: str | os.PathLike[str]
) -> Path | None:
    """Autonomy (%) per evaluation condition as a bar chart; ``None`` for one condition."""
    if len(metrics) < 2:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(metrics)
    vals = [100 * float(metrics[n].get("autonomy", float("nan"))) for n in names]
    fig, ax = plt.subplots(figsize=(max(4.0, 0.9 * len(names) + 2), 3.2))
    ax.bar(range(len(names)), vals, color="#4c78a8")
    ax.set_xticks(range(len(names)), names, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("autonomy %")
    ax.set_ylim(0, 100)
    for i, v in enumerate(vals):
        ax.text(i, v + 1, f"{v:.1f}", ha="center", fontsize=7)
    ax.set_title("Robustness: autonomy per condition")
    return save_figure(fig, path)


class _Embedder:
    """Turns file references into embedded media, once per file."""

    def __init__(self, base: Path, max_mb: float) -> None:
        self.base = base
        self.max_bytes = max_mb * 2**20
        self.done: set[Path] = set()
        self.notes: list[str] = []

    def resolve(self, ref: str) -> Path | None:
        p = Path(ref.strip())
        p = p if p.is_absolute() else self.base / p
        return p if p.is_file() else None

    def media(self, ref: str, caption: str = "") -> str | None:
        p = self.resolve(ref)
        suffix = p.suffix.lower() if p else ""
        if p is None or (suffix not in IMAGE_TYPES and suffix not in VIDEO_SUFFIXES):
            return None
        if p.resolve() in self.done:
            return ""
        self.done.add(p.resolve())
        cap = html.escape(caption or p.name)
        if suffix in IMAGE_TYPES:
            data = p.read_bytes()
            if len(data) > self.max_bytes:
                self.notes.append(f"{p.name} not embedded ({len(data) / 2**20:.1f} MB)")
                return f'<p class="note">{html.escape(p.name)}: too large to embed</p>'
            uri = _data_uri(data, IMAGE_TYPES[suffix])
            return f'<figure><img alt="{cap}" src="{uri}"><figcaption>{cap}</figcaption></figure>'
        data = video_to_webm(p)
        if data is None:
            self.notes.append(f"{p.name}: video could not be decoded")
            return f'<p class="note">{html.escape(p.name)}: video could not be decoded</p>'
        if len(data) > self.max_bytes:
            self.notes.append(f"{p.name} not embedded ({len(data) / 2**20:.1f} MB as WebM)")
            return f'<p class="note">{html.escape(p.name)}: too large to embed</p>'
        uri = _data_uri(data, "video/webm")
        return (
            f'<figure><video controls loop muted playsinline src="{uri}"></video>'
            f"<figcaption>{cap}</figcaption></figure>"
        )


_INLINE = [
    (re.compile(r"\*\*(.+?)\*\*"), r"<strong>\1</strong>"),
    (re.compile(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])"), r"<em>\1</em>"),
]


def _inline(text: str, emb: _Embedder, trailing: list[str]) -> str:
    """Inline Markdown: code spans, images, links, bold, italics. Media named in code
    spans or links are embedded after the block (collected in ``trailing``)."""
    parts = re.split(r"(`[^`]+`)", text)
    out = []
    for part in parts:
        if part.startswith("`") and part.endswith("`") and len(part) > 1:
            inner = part[1:-1]
            m = emb.media(inner)
            if m:
                trailing.append(m)
            out.append(f"<code>{html.escape(inner)}</code>")
            continue
        s = html.escape(part, quote=False)

        def image(mt: re.Match[str]) -> str:
            m = emb.media(html.unescape(mt.group(2)), html.unescape(mt.group(1)))
            return m if m is not None else f"<em>[missing image {mt.group(2)}]</em>"

        def link(mt: re.Match[str]) -> str:
            target = html.unescape(mt.group(2))
            m = emb.media(target, html.unescape(mt.group(1)))
            if m:
                trailing.append(m)
                return html.escape(mt.group(1))
            return f'<a href="{html.escape(target)}">{mt.group(1)}</a>'

        s = re.sub(r"!\[([^\]]*)\]\(([^)\s]+)\)", image, s)
        s = re.sub(r"(?<!!)\[([^\]]+)\]\(([^)\s]+)\)", link, s)
        for pat, rep in _INLINE:
            s = pat.sub(rep, s)
        out.append(s)
    return "".join(out)


_NUM = re.compile(r"^[\s+\-−±0-9.,%e()/a-z]*[0-9][\s+\-−±0-9.,%e()/]*$", re.I)


def _table(rows: list[str], emb: _Embedder, trailing: list[str]) -> str:
    def cells(line: str) -> list[str]:
        line = line.strip()
        if line.startswith("|"):
            line = line[1:]
        if line.endswith("|"):
            line = line[:-1]
        out = [c.strip() for c in line.split("|")]
        if len(out) != n_cols:
            # a header such as "mean |offset| m" holds pipes: split on spaced pipes only
            out = [c.strip() for c in re.split(r"(?<=\s)\|(?=\s)", line)]
        return out

    n_cols = len(rows[1].strip().strip("|").split("|"))

    head = cells(rows[0])
    body = [cells(r) for r in rows[2:]]
    h = "".join(f"<th>{_inline(c, emb, trailing)}</th>" for c in head)
    trs = []
    for r in body:
        tds = "".join(
            f'<td class="num">{_inline(c, emb, trailing)}</td>'
            if _NUM.match(c)
            else f"<td>{_inline(c, emb, trailing)}</td>"
            for c in r
        )
        trs.append(f"<tr>{tds}</tr>")
    return f"<table><thead><tr>{h}</tr></thead><tbody>{''.join(trs)}</tbody></table>"


def markdown_to_html(md: str, emb: _Embedder) -> str:
    """The subset of Markdown the project's reports use."""
    lines = md.splitlines()
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        trailing: list[str] = []
        if line.startswith("```"):
            j = i + 1
            while j < len(lines) and not lines[j].startswith("```"):
                j += 1
            out.append("<pre><code>" + html.escape("\n".join(lines[i + 1 : j])) + "</code></pre>")
            i = j + 1
            continue
        m = re.match(r"^(#{1,6})\s+(.*)$", line)
        if m:
            n = len(m.group(1))
            out.append(f"<h{n}>{_inline(m.group(2), emb, trailing)}</h{n}>")
            i += 1
        elif (
            line.lstrip().startswith("|")
            and i + 1 < len(lines)
            and re.match(r"^\s*\|?\s*:?-+", lines[i + 1])
        ):
            j = i
            while j < len(lines) and lines[j].lstrip().startswith("|"):
                j += 1
            out.append(_table(lines[i:j], emb, trailing))
            i = j
        elif re.match(r"^\s*[-*]\s+", line):
            items = []
            while i < len(lines) and re.match(r"^\s*[-*]\s+", lines[i]):
                items.append(
                    "<li>" + _inline(re.sub(r"^\s*[-*]\s+", "", lines[i]), emb, trailing) + "</li>"
                )
                i += 1
            out.append("<ul>" + "".join(items) + "</ul>")
        elif not line.strip():
            i += 1
        else:
            j = i
            para = []
            while (
                j < len(lines)
                and lines[j].strip()
                and not re.match(r"^(#|\||```|\s*[-*]\s)", lines[j])
            ):
                para.append(lines[j])
                j += 1
            if not para:  # a line no rule above took
                para, j = [line], i + 1
            out.append("<p>" + _inline(" ".join(para), emb, trailing) + "</p>")
            i = j
        out.extend(trailing)
    return "\n".join(out)


def write_html_report(
    md_path: str | os.PathLike[str],
    *,
    title: str | None = None,
    extra_media: Sequence[str | os.PathLike[str]] = (),
    learning_curves: Mapping[str, str | os.PathLike[str]] | None = None,
    max_mb: float = 40.0,
) -> Path:
    """Render ``report.md`` to a self-contained ``report.html`` beside it.

    Args:
        md_path: The Markdown report.
        title: Page title (default: the first heading).
        extra_media: More images / videos to embed under "Figures and videos" when the
            Markdown does not already show them (e.g. the saliency grid).
        learning_curves: Run label -> ``metrics.csv``, plotted as one learning-curve figure.
        max_mb: Largest file embedded (larger ones are named, not embedded).

    Returns:
        The HTML path (written atomically).
    """
    md_path = Path(md_path)
    md = md_path.read_text()
    emb = _Embedder(md_path.parent, max_mb)
    body = markdown_to_html(md, emb)
    extras: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        if learning_curves:
            png = plot_learning_curves(learning_curves, Path(tmp) / "learning_curves.png")
            m = emb.media(str(png), "learning curves") if png is not None else None
            if m:
                extras.append(m)
        for ref in extra_media:
            m = emb.media(str(ref))
            if m:
                extras.append(m)
    if extras:
        body += "\n<h2>Figures and videos</h2>\n" + "\n".join(extras)
    if emb.notes:
        body += "\n" + "".join(f'<p class="note">{html.escape(n)}</p>' for n in emb.notes)
    if title is None:
        first = re.search(r"^#\s+(.*)$", md, re.M)
        title = first.group(1) if first else md_path.stem
    page = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head>\n<body>\n{body}\n"
        f'<p class="note">Generated from {html.escape(md_path.name)}; self-contained (no network).</p>'
        "\n</body></html>\n"
    )
    out = md_path.with_suffix(".html")
    tmp_out = out.with_name(f".{out.name}.tmp")
    tmp_out.write_text(page)
    os.replace(tmp_out, out)
    return out


def write_eval_report(
    res: Mapping[str, object], out_dir: str | os.PathLike[str], *, label: str = ""
) -> Path:
    """``report.md`` + ``report.html`` of one ``evaluate`` run (the result of
    ``evaluate_policy``): the metrics table, the robustness chart when several conditions
    ran, the bird's-eye path plot and the drive video. Returns the HTML path."""
    out = Path(out_dir)
    files = dict(res.get("files", {}))  # type: ignore[call-overload]
    metrics = dict(res.get("metrics", {}))  # type: ignore[call-overload]
    lines = [f"# Closed-loop evaluation{': ' + label if label else ''}", "", str(res["table"]), ""]
    chart = plot_robustness(metrics, out / "robustness.png")
    if chart is not None:
        lines += ["## Robustness", "", f"![autonomy per condition]({chart.name})", ""]
    if "birdseye" in files:
        lines += [
            "## Driven paths (clean)",
            "",
            f"![bird's-eye view]({Path(files['birdseye']).name})",
            "",
        ]
    if "video" in files:
        lines += ["## Drive video", "", f"[drive video]({Path(files['video']).name})", ""]
    lines += [
        "Files:",
        "",
        *[f"- {k}: `{v}`" for k, v in files.items() if k not in ("video", "birdseye")],
        "",
    ]
    md = out / "report.md"
    tmp = md.with_name(".report.md.tmp")
    tmp.write_text("\n".join(lines))
    os.replace(tmp, md)
    return write_html_report(md)
