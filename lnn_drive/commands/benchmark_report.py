"""`benchmark-report`: the benchmark's report regenerated from stored result JSONs alone
(no training, no evaluation): what a resumed or sharded benchmark commits is enough.

    lnn-drive benchmark-report results=docs/results/benchmark_hard_v2 report=docs/benchmark.md

A run in progress gives a partial report: pass the protocol's models and seeds
(``expect_models=[...] expect_seeds=[...]``) so its coverage table lists what is not done.
"""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from lnn_drive.eval.benchmark_report import report_from_results

CONFIG = "benchmark_report"


def expected_protocol(cfg: DictConfig) -> tuple[list[str], list[int]]:
    """``expect_models`` and ``expect_seeds`` of a report command (a seed that is not an
    integer is a usage error)."""
    models = [str(m) for m in (cfg.get("expect_models") or [])]
    seeds = []
    for k in cfg.get("expect_seeds") or []:
        if isinstance(k, bool) or not isinstance(k, int):
            raise ValueError(f"expect_seeds: {k!r} is not an integer training seed")
        seeds.append(k)
    return models, seeds


def run(cfg: DictConfig) -> int:
    """Write the report; a missing or empty results folder is a usage error."""
    results = Path(str(cfg.results))
    if not results.is_dir():
        raise FileNotFoundError(f"results={results}: no such folder")
    how = str(cfg.how_to_run or "")
    if how and not Path(how).is_file():
        raise FileNotFoundError(f"how_to_run={how}: no such file")
    models, seeds = expected_protocol(cfg)
    command = f"lnn-drive benchmark-report results={results} report={cfg.report}"
    if models:
        command += f" 'expect_models=[{','.join(models)}]'"
    if seeds:
        command += f" 'expect_seeds=[{','.join(map(str, seeds))}]'"
    out = report_from_results(
        results,
        report=Path(str(cfg.report)),
        command=command,
        how_to_run=how or None,
        expect_models=models,
        expect_seeds=seeds,
    )
    state = "complete" if out["complete"] else "partial"
    print(f"report: {out['report']} ({out['runs']} complete runs from {results}; {state})")
    return 0
