"""`eval-drone`: fly a checkpoint in FlyToTarget-v0 per season x frame-noise condition;
success with Wilson 95% intervals, failure modes, time to target, path plots, a video.

lnn-drive eval-drone checkpoint=outputs/.../checkpoints/best.pt [episodes=100]
    [seasons=[summer,winter]] [noise_variances=[0.0,0.1]] [video=false]
    [safety=cbf] [cbf.margin=0.3] [cbf.geofence_radius=40]

``safety=cbf`` flies the policy inside the control-barrier-function filter
(:mod:`lnn_drive.models.drone_safety`: command bounds and rate limits, obstacle, geofence
and floor barriers, privileged state from the simulator).
"""

from __future__ import annotations

import json
from pathlib import Path

from omegaconf import DictConfig

from lnn_drive.commands.config import JOB_KEYS, plain, to_dataclass
from lnn_drive.envs.drone_config import DroneConfig
from lnn_drive.eval.drone import DroneEvalConfig, evaluate_flights, plot_paths, results_table

CONFIG = "eval_drone"
#: Options of conf/eval_drone.yaml that are not DroneEvalConfig fields.
OWN_KEYS = ("checkpoint", "out_dir", "threads", "video", "safety", "cbf")


def run(cfg: DictConfig) -> int:
    """Fly every condition; write results.json, results.md, paths.png (and flight.mp4)."""
    c = plain(cfg)
    if c.get("checkpoint") in (None, "", "???"):
        raise ValueError("missing required option: checkpoint (pass checkpoint=.../best.pt)")
    ecfg = to_dataclass(
        DroneEvalConfig, {k: v for k, v in c.items() if k not in (*JOB_KEYS, *OWN_KEYS)}
    )
    env_cfg = DroneConfig.from_mapping(c["env"])
    safety = str(c.get("safety") or "none")
    if safety not in ("none", "cbf"):
        raise ValueError(f"safety={safety}: must be none or cbf")
    from lnn_drive.models.drone_safety import DroneCBFConfig

    cbf = to_dataclass(DroneCBFConfig, c.get("cbf") or {}, where="cbf.")
    ck = Path(c["checkpoint"])
    if not ck.is_file():
        raise FileNotFoundError(f"checkpoint {ck} not found")
    import torch

    from lnn_drive.explain.flight_video import flight_video
    from lnn_drive.models import Policy

    torch.set_num_threads(int(c["threads"]))
    policy = Policy.load(ck)
    policy.eval()
    flier = policy
    if safety == "cbf":
        from lnn_drive.models.drone_safety import DroneSafetyFilter

        flier = DroneSafetyFilter(policy, env_cfg, cbf)
    results = evaluate_flights(flier, env_cfg, ecfg)
    out = Path(c["out_dir"])
    out.mkdir(parents=True, exist_ok=True)
    rows = [r.to_dict() for r in results]
    (out / "results.json").write_text(
        json.dumps({"checkpoint": str(ck), "safety": safety, "results": rows}, indent=2)
    )
    table = results_table(results)
    (out / "results.md").write_text(table + "\n")
    plot_paths(results, out / "paths.png")
    print(table)
    if c.get("video"):
        v = flight_video(policy, env_cfg, out / "flight.mp4", seed=ecfg.first_seed)
        print(f"video: {v['path']} ({v['frames']} frames, {v['outcome']})")
    print(f"results: {out / 'results.json'}, {out / 'results.md'}, {out / 'paths.png'}")
    return 0
