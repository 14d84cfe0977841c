"""`demo`: collect -> train -> evaluate -> saliency video -> report (conf/demo.yaml)."""

import hydra
from omegaconf import DictConfig

from lnn_drive.cli import user_errors
from lnn_drive.demo import demo


@hydra.main(version_base="1.3", config_path="../conf", config_name="demo")
def main(cfg: DictConfig) -> None:
    with user_errors():
        demo(cfg)


if __name__ == "__main__":
    main()
