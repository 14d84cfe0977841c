"""`import-video`: see conf/import_video.yaml for options."""

import hydra
from omegaconf import DictConfig

from lnn_drive.cli import user_errors
from lnn_drive.data.commands import import_video_command


@hydra.main(version_base="1.3", config_path="../conf", config_name="import_video")
def main(cfg: DictConfig) -> None:
    with user_errors():
        import_video_command(cfg)


if __name__ == "__main__":
    main()
