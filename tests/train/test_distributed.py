"""torchrun with 2 CPU processes (gloo): ranks end with identical weights."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lnn_drive import PROJECT_ROOT
from lnn_drive.models import Policy


@pytest.mark.slow  # ~25 s on 2 shared cores: two interpreters + torch imports
def test_two_cpu_ranks_end_with_identical_weights(make_dataset, tmp_path: Path) -> None:
    root = make_dataset((24, 20, 28, 20), h=24, w=64)
    run = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE"}
    env["PYTHONPATH"] = os.pathsep.join([str(PROJECT_ROOT), env.get("PYTHONPATH", "")])
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
        str(PROJECT_ROOT / "scripts" / "train.py"),
        f"hydra.run.dir={run}",
        f"paths.log_dir={tmp_path}/outputs",
        f"paths.cache_dir={tmp_path}/cache",
        f"data.roots=[{root}]",
        "data.window=4", "data.stride=2", "data.batch_size=2", "data.val_fraction=0.25",
        "data.preprocess.height=24", "data.preprocess.width=64",
        "train.max_steps=4", "train.val_every=2", "train.progress=false", "train.threads=2",
        "model=ncp_cfc",
    ]  # fmt: skip
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads((run / "result.json").read_text())
    assert result["world_size"] == 2 and result["steps"] == 4
    assert result["max_weight_diff_across_ranks"] == 0.0
    Policy.load(result["best_checkpoint"]).reset()


@pytest.mark.slow  # ~20 s: two spawned interpreters + torch imports
def test_train_local_two_ranks_under_a_time_budget(make_dataset, tmp_path: Path) -> None:
    """The demo's launcher: 2 spawned ranks, wall-clock budget decided by rank 0's clock,
    so both stop at the same step with identical weights (no deadlock)."""
    from lnn_drive.commands.config import compose, train_kwargs
    from lnn_drive.train.launch import train_local

    root = make_dataset((24, 20, 28, 20), h=24, w=64)
    cfg, _ = compose(
        "train",
        [
            f"paths.output_dir={tmp_path}/run",
            f"paths.cache_dir={tmp_path}/cache",
            f"data.roots=[{root}]",
            "data.window=4", "data.stride=2", "data.batch_size=2", "data.val_fraction=0.25",
            "data.preprocess.height=24", "data.preprocess.width=64",
            "train.max_steps=100000", "train.max_minutes=0.05", "train.val_every=5",
            "train.progress=false", "model=feedforward",
        ],
    )  # fmt: skip
    result = train_local(**train_kwargs(cfg), nproc=2)
    assert result["world_size"] == 2 and result["stopped"] == "max_minutes"
    assert result["steps"] > 0
    assert result["max_weight_diff_across_ranks"] == 0.0
    Policy.load(result["best_checkpoint"]).reset()


def test_train_local_rejects_bad_process_counts() -> None:
    from lnn_drive.train.launch import train_local

    with pytest.raises(ValueError, match="nproc"):
        train_local(nproc=0)
