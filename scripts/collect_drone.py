"""`collect_drone`: fly the drone's expert into a driving log; see conf/collect_drone.yaml."""

import hydra
from omegaconf import DictConfig, OmegaConf

from lnn_drive.cli import dataclass_from_cfg, user_errors
from lnn_drive.envs.drone_collect import DroneCollectConfig, collect_drone


def run(cfg: DictConfig) -> dict:
    """Typed configs from the composed config, then :func:`collect_drone`."""
    if OmegaConf.is_missing(cfg, "out"):
        raise ValueError("missing required option: out (pass e.g. out=data/drone)")
    d = OmegaConf.to_container(cfg, resolve=True)
    d["seasons"] = tuple(d.get("seasons") or ())
    ccfg = dataclass_from_cfg(DroneCollectConfig, d)
    s = collect_drone(ccfg, d["env"])
    outcomes = ", ".join(f"{v} {k}" for k, v in sorted(s["outcomes"].items()))
    print(
        f"wrote {s['frames']} frames in {s['episodes']} episodes ({outcomes}) to {s['out']} "
        f"in {s['seconds']:.1f} s"
    )
    return s


@hydra.main(version_base="1.3", config_path="../conf", config_name="collect_drone")
def main(cfg: DictConfig) -> None:
    with user_errors():
        run(cfg)


if __name__ == "__main__":
    main()
