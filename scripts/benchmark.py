"""`benchmark`: see conf/benchmark.yaml for options."""

import hydra
from omegaconf import DictConfig

from lnn_drive.cli import user_errors
from lnn_drive.eval.benchmark import benchmark


@hydra.main(version_base="1.3", config_path="../conf", config_name="benchmark")
def main(cfg: DictConfig) -> None:
    with user_errors():
        benchmark(cfg)


if __name__ == "__main__":
    main()
