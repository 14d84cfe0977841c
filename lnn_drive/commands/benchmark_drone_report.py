"""`benchmark-drone-report`: the drone benchmark's report regenerated from its stored
result JSONs alone (no training, no flying); a run in progress gives a partial report.

    lnn-drive benchmark-drone-report results=docs/results/benchmark_drone report=docs/benchmark_drone.md
"""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from lnn_drive.commands.benchmark_report import expected_protocol
from lnn_drive.eval.drone_benchmark_report import drone_report_from_results

CONFIG = "benchmark_drone_report"


def run(cfg: DictConfig) -> int:
    """Write the report; a missing results folder is a usage error."""
    results = Path(str(cfg.results))
    if not results.is_dir():
        raise FileNotFoundError(f"results={results}: no such folder")
    models, seeds = expected_protocol(cfg)
    reference = str(cfg.reference)
    command = f"lnn-drive benchmark-drone-report results={results} report={cfg.report}"
    out = drone_report_from_results(
        results,
        report=Path(str(cfg.report)),
        command=command,
        expect_models=models,
        expect_seeds=seeds,
        reference=reference,
    )
    state = "complete" if out["complete"] else "partial"
    print(f"report: {out['report']} ({out['runs']} complete runs from {results}; {state})")
    return 0
