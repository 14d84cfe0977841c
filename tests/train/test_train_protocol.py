"""The benchmark's training protocol in the trainer: early stopping under the cosine
schedule (which spans the step cap, so stopping early never anneals), a run resumed
after early stopping stays stopped, and ``train.init_checkpoint`` fine-tunes."""

from __future__ import annotations

import csv
import itertools
from pathlib import Path

import pytest
import torch

import lnn_drive.train.bc as bc
from lnn_drive.commands.config import train_kwargs
from lnn_drive.train import train
from lnn_drive.train.checkpoint import read_checkpoint
from tests.train.test_train import tiny_cfg  # noqa: F401  (fixture)


def _rows(run_dir: str) -> list[dict[str, str]]:
    with open(Path(run_dir) / "metrics.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_early_stopping_under_cosine_stops_at_patience_and_stays_stopped(
    tiny_cfg,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    losses = itertools.chain([1.0, 0.5, 0.6, 0.7, 0.8], itertools.repeat(0.9))
    monkeypatch.setattr(bc, "evaluate", lambda *a, **k: {"val/loss": next(losses)})
    cfg = tiny_cfg(
        "train.max_steps=1000",
        "train.val_every=1",
        "train.patience=3",
        "train.warmup_steps=0",
        "train.log_every=1",
    )
    res = train(**train_kwargs(cfg))
    # best at step 2, then 3 validations without improvement
    assert res["stopped"] == "early_stopping" and res["steps"] == 5 and res["best_step"] == 2
    lrs = [float(r["train/lr"]) for r in _rows(res["run_dir"]) if r.get("train/lr")]
    lr = train_kwargs(cfg)["cfg"].lr
    assert min(lrs) > 0.99 * lr  # 5 of 1000 steps: the schedule has not annealed
    again = train(**train_kwargs(cfg))  # resumed from last.pt: no further steps
    assert again["stopped"] == "early_stopping" and again["steps"] == 5


def test_init_checkpoint_fine_tunes_from_the_weights_with_a_fresh_run(tiny_cfg) -> None:  # noqa: F811
    base = train(**train_kwargs(tiny_cfg(run="base")))
    kw = train_kwargs(
        tiny_cfg(
            f"train.init_checkpoint={base['best_checkpoint']}",
            "train.max_steps=2",
            "train.lr=1e-12",
            run="ft",
        )
    )
    ft = train(**kw)
    assert ft["steps"] == 2  # a fresh run: step 0 to 2, not a continuation of base's 6
    a = read_checkpoint(base["best_checkpoint"])["model_state"]
    b = read_checkpoint(ft["last_checkpoint"])["model_state"]
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)
    missing = train_kwargs(tiny_cfg("train.init_checkpoint=/nonexistent.pt", run="bad"))
    with pytest.raises(FileNotFoundError, match="train.init_checkpoint"):
        train(**missing)
