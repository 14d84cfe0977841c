"""`collect`: roll the simulator's expert into a driving log; see conf/collect.yaml."""

import hydra
from omegaconf import DictConfig

from lnn_drive.cli import user_errors
from lnn_drive.envs.collect import collect


@hydra.main(version_base="1.3", config_path="../conf", config_name="collect")
def main(cfg: DictConfig) -> None:
    with user_errors():
        s = collect(cfg)
        print(
            f"wrote {s['frames']} frames in {s['episodes']} episodes ({s['distance_km']:.2f} km, "
            f"{s['crashes']} crashes, {s['interventions']} interventions) to {s['out']} "
            f"in {s['seconds']:.1f} s"
        )


if __name__ == "__main__":
    main()
