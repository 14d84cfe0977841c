"""`export-checkpoint`: a training checkpoint -> safetensors + config.json (Hugging Face
model-repo layout); see conf/export_checkpoint.yaml."""

import hydra
from omegaconf import DictConfig

from lnn_drive.cli import dataclass_from_cfg, user_errors
from lnn_drive.models.hub import ExportCheckpointConfig, export_checkpoint


@hydra.main(version_base="1.3", config_path="../conf", config_name="export_checkpoint")
def main(cfg: DictConfig) -> None:
    with user_errors():
        out = export_checkpoint(dataclass_from_cfg(ExportCheckpointConfig, cfg))
        print(f"wrote {out}/model.safetensors, config.json, README.md")
        print(f"load with: Policy.load({str(out)!r})")


if __name__ == "__main__":
    main()
