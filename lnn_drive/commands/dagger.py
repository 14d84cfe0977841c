"""`dagger`: behaviour cloning plus DAgger rounds in the simulator.

    lnn-drive dagger [model=ncp_cfc] [data.roots=[...]] [dagger.rounds=3] [train.max_minutes=3]

Round 0 trains on ``data.roots``; each later round drives fresh roads with the
expert/learner mixture, labels every frame with the expert's action, adds the round to the
data and retrains.
"""

from __future__ import annotations

import json

from omegaconf import DictConfig

from lnn_drive.commands.config import (
    env_config,
    print_error,
    run_dir,
    to_dataclass,
    train_configs,
)
from lnn_drive.commands.train import NONFINITE_EXIT
from lnn_drive.train.bc import NonFiniteLossError, train_summary
from lnn_drive.train.dagger import DaggerConfig, dagger

CONFIG = "dagger"


def run(cfg: DictConfig) -> int:
    """Run DAgger; print one line per round and write ``dagger.json``."""
    tc, data, model = train_configs(cfg)
    dcfg = to_dataclass(DaggerConfig, cfg.dagger, where="dagger.")
    out = run_dir(cfg)
    try:
        result = dagger(
            dcfg, train=tc, data=data, model=model, env=env_config(cfg.env), out_dir=out
        )
    except NonFiniteLossError as e:
        print_error(e)
        return NONFINITE_EXIT
    for r in result["rounds"]:
        col = r.get("collect")
        extra = (
            f", collected {col['frames']} frames (expert share {col['expert_share']:.2f}, "
            f"{col['interventions']} interventions)"
            if col
            else ""
        )
        print(
            f"round {r['round']}: beta {r['beta']:.3f}, val loss {r['train']['val_loss']:.4f}{extra}"
        )
    summary = {k: v for k, v in result.items() if k != "rounds"}
    summary["rounds"] = [
        {
            "round": r["round"],
            "beta": r["beta"],
            "collect": r.get("collect"),
            "val_loss": r["train"]["val_loss"],
            "best_checkpoint": r["train"]["best_checkpoint"],
        }
        for r in result["rounds"]
    ]
    path = out / "dagger.json"
    path.write_text(json.dumps(summary, indent=2, default=str))
    print(train_summary(result))
    print(f"summary: {path}")
    return 0
