"""`saliency`: see conf/saliency.yaml for options."""

import hydra
from omegaconf import DictConfig

from lnn_drive.cli import user_errors
from lnn_drive.explain.commands import saliency_command


@hydra.main(version_base="1.3", config_path="../conf", config_name="saliency")
def main(cfg: DictConfig) -> None:
    with user_errors():
        saliency_command(cfg)


if __name__ == "__main__":
    main()
