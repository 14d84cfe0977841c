"""Typed bodies of the data commands (``scripts/import_udacity.py``, ``import_video.py``,
``inspect_log.py``); tests call these directly."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from lnn_drive.cli import dataclass_from_cfg
from lnn_drive.data.importers import (
    UdacityImportConfig,
    VideoImportConfig,
    import_udacity,
    import_video,
)
from lnn_drive.data.inspect_log import format_summary, summarize, write_histograms


def import_udacity_command(cfg: DictConfig) -> dict[str, Any]:
    """Import a Udacity simulator log; returns the import summary."""
    summary = import_udacity(dataclass_from_cfg(UdacityImportConfig, cfg)).to_dict()
    _report(summary)
    return summary


def import_video_command(cfg: DictConfig) -> dict[str, Any]:
    """Import a video plus controls CSV; returns the import summary."""
    summary = import_video(dataclass_from_cfg(VideoImportConfig, cfg)).to_dict()
    _report(summary)
    return summary


def _report(summary: dict[str, Any]) -> None:
    print(
        f"wrote {summary['frames']} frames in {summary['episodes']} episode(s) to {summary['out']}"
    )
    for note in summary["notes"]:
        print(f"note: {note}")
    print(format_summary(summarize(summary["out"])))


def inspect_command(cfg: DictConfig) -> dict[str, Any]:
    """Summarise a dataset; writes summary.json and histograms.png under ``cfg.out_dir``."""
    s = summarize(cfg.root, decode=bool(cfg.decode), bins=int(cfg.bins))
    print(format_summary(s))
    if cfg.get("out_dir"):
        out = Path(cfg.out_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / "summary.json").write_text(json.dumps(s, indent=2))
        png = write_histograms(s, out / "histograms.png")
        print(f"\nsummary: {out / 'summary.json'}\nhistograms: {png}")
    return s
