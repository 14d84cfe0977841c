"""RunLogger's metrics.csv across a resume: no repeated rows, nothing lost."""

from __future__ import annotations

import csv
from pathlib import Path

from lnn_drive.train.logger import RunLogger


def _run(run_dir: Path, steps: range, *, initial_step: int, val_every: int = 3) -> None:
    """Log like the trainer: a train row every step, a val row every ``val_every``,
    and a final validation at the last step."""
    logger = RunLogger(run_dir, initial_step=initial_step, progress=False)
    for s in steps:
        logger.log(s, {"train/loss": 1.0 / s})
        if s % val_every == 0:
            logger.log(s, {"val/loss": 2.0 / s})
    last = steps[-1] if len(steps) else initial_step
    if last % val_every:
        logger.log(last, {"val/loss": 2.0 / last})
    logger.close()


def _rows(run_dir: Path) -> list[tuple[int, str]]:
    with open(run_dir / "metrics.csv", newline="") as f:
        return [
            (int(float(r["step"])), "val" if r.get("val/loss") else "train")
            for r in csv.DictReader(f)
        ]


def test_resumed_run_does_not_repeat_rows(tmp_path: Path) -> None:
    ref, run = tmp_path / "ref", tmp_path / "run"
    _run(ref, range(1, 7), initial_step=0)
    # killed after logging step 5; the last checkpoint is at step 4
    logger = RunLogger(run, progress=False)
    for s in range(1, 6):
        logger.log(s, {"train/loss": 1.0 / s})
        if s % 3 == 0:
            logger.log(s, {"val/loss": 2.0 / s})
    logger.close()
    _run(run, range(5, 7), initial_step=4)
    assert _rows(run) == _rows(ref)
    # a finished run resumed again re-validates its last step: replaced, not repeated
    _run(run, range(7, 7), initial_step=6)
    assert _rows(run) == _rows(ref)
    assert len(_rows(run)) == len(set(_rows(run)))
    assert (run / "metrics.csv").read_text() == (ref / "metrics.csv").read_text()
