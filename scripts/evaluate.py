"""`evaluate`: see conf/evaluate.yaml for options."""

import hydra
from omegaconf import DictConfig

from lnn_drive.cli import user_errors
from lnn_drive.eval.evaluate import evaluate


@hydra.main(version_base="1.3", config_path="../conf", config_name="evaluate")
def main(cfg: DictConfig) -> None:
    with user_errors():
        evaluate(cfg)


if __name__ == "__main__":
    main()
