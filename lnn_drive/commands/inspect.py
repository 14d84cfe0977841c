"""`inspect`: summarise a dataset (episodes, duration, frames, signal ranges, histograms).

lnn-drive inspect root=data/sample
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from lnn_drive.data.inspect_log import format_summary, summarize, write_histograms

CONFIG = "inspect"


def report_import(summary: dict[str, Any]) -> None:
    """Print what an importer wrote, then the new dataset's summary."""
    print(
        f"wrote {summary['frames']} frames in {summary['episodes']} episode(s) to {summary['out']}"
    )
    for note in summary["notes"]:
        print(f"note: {note}")
    print(format_summary(summarize(summary["out"])))


def run(cfg: DictConfig) -> int:
    """Summarise; write ``summary.json`` and ``histograms.png`` under ``out_dir``."""
    s = summarize(cfg.root, decode=bool(cfg.decode), bins=int(cfg.bins))
    print(format_summary(s))
    if cfg.get("out_dir"):
        out = Path(cfg.out_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / "summary.json").write_text(json.dumps(s, indent=2))
        png = write_histograms(s, out / "histograms.png")
        print(f"\nsummary: {out / 'summary.json'}\nhistograms: {png}")
    return 0
