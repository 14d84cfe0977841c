"""`lnn-drive saliency-seeds` end to end: real (untrained) checkpoints, the real simulator."""

from __future__ import annotations

import json

import pytest
import torch

from lnn_drive.commands import main
from lnn_drive.data.preprocess import Preprocess
from lnn_drive.models.config import ModelConfig
from lnn_drive.models.policy import Policy
from lnn_drive.train.checkpoint import save_checkpoint


def _bench_dir(root, models):
    for name, ctrl in models.items():
        for seed in (0, 1):
            torch.manual_seed(seed)
            cfg = ModelConfig(name=name, controller=ctrl) if ctrl else ModelConfig()
            pol = Policy(
                model_cfg=cfg,
                preprocess=Preprocess().with_input(78, 200),
                output_names=["steering"],
            )
            path = root / "runs" / name / f"seed{seed}" / "checkpoints" / "best.pt"
            path.parent.mkdir(parents=True)
            save_checkpoint(path, policy=pol)
    return root


@pytest.mark.slow
def test_saliency_seeds_over_benchmark_checkpoints(tmp_path, capsys) -> None:
    bench = _bench_dir(tmp_path / "bench", {"ncp_cfc": None, "lstm": {"type": "lstm", "units": 8}})
    out = tmp_path / "out"
    rc = main(
        [
            "saliency-seeds",
            f"hydra.run.dir={tmp_path}/run",
            f"benchmark_dir={bench}",
            f"out_dir={out}",
            "seeds.frames=6",
            "seeds.roads=2",
            "seeds.noise_variances=[0.1]",
            "seeds.control_seeds=[0]",
            "seeds.dynamics_steps=40",
        ]
    )
    assert rc == 0
    md = (out / "seeds.md").read_text()
    assert "lstm (untrained encoder)" in md and "ncp_cfc" in md
    data = json.loads((out / "seeds.json").read_text())
    lstm = next(d for d in data["dynamics"] if d["model"] == "lstm")
    assert lstm["units"] == 8  # h only, not [h, c]
    ncp = next(s for s in data["saliency"] if s["model"] == "ncp_cfc")
    assert ncp["share"]["road"]["n"] == 2 and len(ncp["sources"]) == 2
    assert "outputs:" in capsys.readouterr().out
