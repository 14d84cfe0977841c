"""`carracing-evaluate`: drive a trained policy (its checkpoint alone) on unseen CarRacing tracks.

lnn-drive carracing-evaluate checkpoint=<run>/checkpoints/best.pt episodes=100 first_seed=10000 \
    [noise_variance=0.1] [env.domain_randomize=true] [out=metrics.json] [video=drive.mp4]

``video=`` writes the first track's drive as an MP4: the frame the policy sees with its
VisualBackProp saliency, and the outputs (the policy's above the expert's).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from lnn_drive.commands.carracing_expert import carracing_config, write_json_atomic
from lnn_drive.commands.config import UsageError
from lnn_drive.envs.adapters.carracing import INFO_SIGNALS, carracing_env_fn
from lnn_drive.eval.episodes import run_episodes, summarise_returns
from lnn_drive.train.checkpoint import load_policy

CONFIG = "carracing_evaluate"


def run(cfg: DictConfig) -> int:
    """Drive, print the summary as JSON, write every episode to ``out``."""
    import torch

    if OmegaConf.is_missing(cfg, "checkpoint"):
        raise UsageError("checkpoint is required (checkpoint=path/to/best.pt)")
    episodes, first = int(cfg.episodes), int(cfg.first_seed)
    if episodes < 1:
        raise UsageError(f"episodes must be >= 1, got {episodes}")
    ckpt = Path(str(cfg.checkpoint))
    if not ckpt.is_file():
        raise FileNotFoundError(f"checkpoint {ckpt} does not exist")
    out = None if cfg.out in (None, "") else Path(str(cfg.out))
    if out is not None and not out.parent.is_dir():
        raise FileNotFoundError(f"out: folder {out.parent} does not exist")
    video = None if cfg.get("video") in (None, "") else Path(str(cfg.video))
    if video is not None and (video.suffix.lower() != ".mp4" or not video.parent.is_dir()):
        raise UsageError(f"video={video}: must be an .mp4 path in an existing folder")
    vsteps = cfg.get("video_steps")
    if vsteps is not None and (
        isinstance(vsteps, bool) or not isinstance(vsteps, int) or vsteps < 1
    ):
        raise UsageError(f"video_steps={vsteps}: must be a positive integer or null")
    env = carracing_config(cfg.env)
    if int(cfg.threads) > 0:
        torch.set_num_threads(int(cfg.threads))
    policy = load_policy(ckpt)
    t0 = time.perf_counter()
    eps = run_episodes(
        policy,
        carracing_env_fn(env),
        seeds=list(range(first, first + episodes)),
        noise_variance=float(cfg.noise_variance),
        noise_seed=int(cfg.noise_seed),
        signal_names=list(INFO_SIGNALS),
    )
    s = summarise_returns(eps)
    s["seconds"] = time.perf_counter() - t0
    s["steps_per_s"] = sum(e.steps for e in eps) / s["seconds"]
    print(json.dumps(s, indent=2))
    if out is not None:
        write_json_atomic(
            out,
            {
                "checkpoint": str(ckpt),
                "env": env.to_dict(),
                "noise_variance": float(cfg.noise_variance),
                "summary": s,
                "episodes": [asdict(e) for e in eps],
            },
        )
        print(f"wrote {out}")
    if video is not None:
        from lnn_drive.explain.adapter_video import adapter_video

        v = adapter_video(policy, carracing_env_fn(env), video, seed=first, max_steps=vsteps)
        print(f"video: {v['path']} ({v['frames']} frames, return {v['return']:.1f})")
    return 0
