"""Drive a trained policy (its checkpoint alone) on CarRacing-v3 track seeds; report returns.

python scripts/carracing_evaluate.py --checkpoint outputs/train/runs/<run>/checkpoints/best.pt \
    --episodes 100 --first-seed 10000 [--noise 0.1] [--domain-randomize] [--out metrics.json]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import asdict
from pathlib import Path

from lnn_drive.cli import user_errors
from lnn_drive.envs.adapters import find_adapter
from lnn_drive.envs.adapters.carracing import CarRacingConfig, carracing_env_fn
from lnn_drive.eval.episodes import run_episodes, summarise_returns
from lnn_drive.eval.evaluate import load_policy


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--episodes", type=int, default=100)
    ap.add_argument("--first-seed", type=int, default=10_000, help="unseen by collection")
    ap.add_argument("--noise", type=float, default=0.0, help="frame-noise variance, [0, 1] scale")
    ap.add_argument("--domain-randomize", action="store_true")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    with user_errors():
        import torch

        if args.episodes < 1:
            raise ValueError(f"--episodes must be >= 1, got {args.episodes}")
        if args.out is not None and not args.out.parent.is_dir():
            raise FileNotFoundError(f"--out: folder {args.out.parent} does not exist")
        torch.set_num_threads(args.threads)
        policy = load_policy(args.checkpoint)
        env_fn = carracing_env_fn(CarRacingConfig(domain_randomize=args.domain_randomize))
        probe = env_fn()
        names = list(find_adapter(probe).info_signals)
        probe.close()
        t0 = time.perf_counter()
        eps = run_episodes(
            policy,
            env_fn,
            seeds=list(range(args.first_seed, args.first_seed + args.episodes)),
            noise_variance=args.noise,
            signal_names=names,
        )
        s = summarise_returns(eps)
        s["seconds"] = time.perf_counter() - t0
        s["steps_per_s"] = sum(e.steps for e in eps) / s["seconds"]
        print(json.dumps(s, indent=2))
        if args.out is not None:
            tmp = args.out.with_name(f".{args.out.name}.tmp")
            payload = {
                "args": {k: str(v) for k, v in vars(args).items()},
                "summary": s,
                "episodes": [asdict(e) for e in eps],
            }
            tmp.write_text(json.dumps(payload, indent=2) + "\n")
            os.replace(tmp, args.out)


if __name__ == "__main__":
    main()
