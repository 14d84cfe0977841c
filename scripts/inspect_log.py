"""`inspect`: see conf/inspect.yaml for options."""

import hydra
from omegaconf import DictConfig

from lnn_drive.cli import user_errors
from lnn_drive.data.commands import inspect_command


@hydra.main(version_base="1.3", config_path="../conf", config_name="inspect")
def main(cfg: DictConfig) -> None:
    with user_errors():
        inspect_command(cfg)


if __name__ == "__main__":
    main()
