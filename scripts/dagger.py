"""`dagger`: behaviour cloning plus DAgger rounds; see conf/dagger.yaml."""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch: see lnn_drive/train/__init__.py

import json
import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

from lnn_drive.cli import user_errors
from lnn_drive.train.bc import NonFiniteLossError, train_summary
from lnn_drive.train.dagger import dagger


@hydra.main(version_base="1.3", config_path="../conf", config_name="dagger")
def main(cfg: DictConfig) -> None:
    with user_errors():
        try:
            result = dagger(cfg)
        except NonFiniteLossError as e:
            print(f"error: {e}", file=sys.stderr)
            raise SystemExit(3) from e
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
    out = Path(cfg.paths.output_dir) / "dagger.json"
    out.write_text(json.dumps(summary, indent=2, default=str))
    print(train_summary(result))
    print(f"summary: {out}")


if __name__ == "__main__":
    main()
