"""`benchmark-report`: the benchmark's report regenerated from stored result JSONs alone
(no training, no evaluation): what a resumed or sharded benchmark commits is enough.

    lnn-drive benchmark-report results=docs/results/benchmark_hard_v2 report=docs/benchmark.md
"""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from lnn_drive.eval.benchmark_report import report_from_results

CONFIG = "benchmark_report"


def run(cfg: DictConfig) -> int:
    """Write the report; a missing or empty results folder is a usage error."""
    results = Path(str(cfg.results))
    if not results.is_dir():
        raise FileNotFoundError(f"results={results}: no such folder")
    how = str(cfg.how_to_run or "")
    if how and not Path(how).is_file():
        raise FileNotFoundError(f"how_to_run={how}: no such file")
    command = f"lnn-drive benchmark-report results={results} report={cfg.report}"
    out = report_from_results(
        results, report=Path(str(cfg.report)), command=command, how_to_run=how or None
    )
    print(f"report: {out['report']} ({out['runs']} runs from {results})")
    return 0
