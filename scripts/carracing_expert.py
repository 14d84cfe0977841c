"""Drive the privileged CarRacing expert on track seeds and report its return distribution.

python scripts/carracing_expert.py --episodes 100 --first-seed 1000 --out expert.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import asdict
from pathlib import Path

from lnn_drive.cli import user_errors
from lnn_drive.envs.adapters.carracing import CarRacingConfig, evaluate_expert


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--episodes", type=int, default=100)
    ap.add_argument("--first-seed", type=int, default=1000, help="seeds 0-3 tuned the gains")
    ap.add_argument("--domain-randomize", action="store_true")
    ap.add_argument(
        "--pixels", action="store_true", help="draw the frames too (same returns, ~100x slower)"
    )
    ap.add_argument("--out", type=Path, default=None, help="JSON file for every episode")
    args = ap.parse_args()
    with user_errors():
        if args.episodes < 1:
            raise ValueError(f"--episodes must be >= 1, got {args.episodes}")
        if args.out is not None and not args.out.parent.is_dir():
            raise FileNotFoundError(f"--out: folder {args.out.parent} does not exist")
        cfg = CarRacingConfig(domain_randomize=args.domain_randomize, pixels=args.pixels)
        seeds = list(range(args.first_seed, args.first_seed + args.episodes))

        def show(e) -> None:
            print(
                f"seed {e.seed}: return {e.ret:.1f}, {e.steps} steps, laps {e.laps}, "
                f"off-track events {e.off_track_events}, {e.steps / e.seconds:.0f} steps/s",
                flush=True,
            )

        results, summary = evaluate_expert(cfg, seeds=seeds, on_episode=show)
        print(json.dumps(summary, indent=2))
        if args.out is not None:
            tmp = args.out.with_name(f".{args.out.name}.tmp")
            payload = {
                "command": " ".join(["python", *sys.argv]),
                "config": cfg.to_dict(),
                "summary": summary,
                "episodes": [asdict(e) for e in results],
            }
            tmp.write_text(json.dumps(payload, indent=2) + "\n")
            os.replace(tmp, args.out)
            print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
