"""`model-summary`: see conf/model_summary.yaml for options."""

import hydra
from omegaconf import DictConfig

from lnn_drive.cli import user_errors
from lnn_drive.models.summary import model_summary_command


@hydra.main(version_base="1.3", config_path="../conf", config_name="model_summary")
def main(cfg: DictConfig) -> None:
    with user_errors():
        print(model_summary_command(cfg))


if __name__ == "__main__":
    main()
