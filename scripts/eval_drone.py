"""`eval_drone`: fly a checkpoint in FlyToTarget-v0 per condition; see conf/eval_drone.yaml."""

import json
from pathlib import Path

import hydra
import torch
from omegaconf import DictConfig, OmegaConf

from lnn_drive.cli import user_errors
from lnn_drive.envs.drone_config import DroneConfig
from lnn_drive.eval.drone import DroneEvalConfig, evaluate_flights, plot_paths, results_table
from lnn_drive.explain.flight_video import flight_video
from lnn_drive.models import Policy


def run(cfg: DictConfig) -> list[dict]:
    """Typed configs from the composed config, fly, write the results."""
    if OmegaConf.is_missing(cfg, "checkpoint"):
        raise ValueError("missing required option: checkpoint (pass checkpoint=.../best.pt)")
    c = OmegaConf.to_container(cfg, resolve=True)
    ecfg = DroneEvalConfig(
        episodes=int(c["episodes"]),
        seasons=tuple(c["seasons"]),
        noise_variances=tuple(float(v) for v in c["noise_variances"]),
        first_seed=int(c["first_seed"]),
        batch=int(c["batch"]),
        keep_paths=int(c["keep_paths"]),
    )
    env_cfg = DroneConfig.from_mapping(c["env"])
    ck = Path(c["checkpoint"])
    if not ck.is_file():
        raise FileNotFoundError(f"checkpoint {ck} not found")
    torch.set_num_threads(int(c["threads"]))
    policy = Policy.load(ck)
    policy.eval()
    results = evaluate_flights(policy, env_cfg, ecfg)
    out = Path(c["out_dir"])
    out.mkdir(parents=True, exist_ok=True)
    rows = [r.to_dict() for r in results]
    (out / "results.json").write_text(
        json.dumps({"checkpoint": str(ck), "results": rows}, indent=2)
    )
    table = results_table(results)
    (out / "results.md").write_text(table + "\n")
    plot_paths(results, out / "paths.png")
    print(table)
    if c.get("video"):
        v = flight_video(policy, env_cfg, out / "flight.mp4", seed=ecfg.first_seed)
        print(f"video: {v['path']} ({v['frames']} frames, {v['outcome']})")
    print(f"\nresults: {out / 'results.json'}, {out / 'results.md'}, {out / 'paths.png'}")
    return rows


@hydra.main(version_base="1.3", config_path="../conf", config_name="eval_drone")
def main(cfg: DictConfig) -> None:
    with user_errors():
        run(cfg)


if __name__ == "__main__":
    main()
