"""`train`: behaviour cloning; see conf/train.yaml. Runs under torchrun unchanged."""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch: see lnn_drive/train/__init__.py

import sys

import hydra
from omegaconf import DictConfig

from lnn_drive.cli import user_errors
from lnn_drive.train.bc import NonFiniteLossError, train, train_summary


@hydra.main(version_base="1.3", config_path="../conf", config_name="train")
def main(cfg: DictConfig) -> float:
    with user_errors():
        try:
            result = train(cfg)
        except NonFiniteLossError as e:
            print(f"error: {e}", file=sys.stderr)
            raise SystemExit(3) from e
    print(train_summary(result))
    return float(result["val_loss"])  # the objective of hydra/sweeper=optuna


if __name__ == "__main__":
    main()
