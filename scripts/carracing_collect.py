"""Record the CarRacing expert's drives, with DART noise, as a driving log.

python scripts/carracing_collect.py --out data/carracing --episodes 50 --seed 0 \
    --dart-steering 0.005 --dart-longitudinal 0.1
"""

from __future__ import annotations

import argparse

from lnn_drive.cli import user_errors
from lnn_drive.envs.adapters.carracing import CarRacingConfig, CollectConfig, collect


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, help="dataset folder to create")
    ap.add_argument("--episodes", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0, help="first track seed")
    ap.add_argument("--dart-steering", type=float, default=0.005, help="1/m")
    ap.add_argument("--dart-longitudinal", type=float, default=0.1)
    ap.add_argument("--encoding", default="ffv1", choices=["ffv1", "mp4v"])
    ap.add_argument("--domain-randomize", action="store_true")
    ap.add_argument("--max-episode-steps", type=int, default=1000)
    ap.add_argument("--overwrite", action="store_true")
    args = ap.parse_args()
    with user_errors():
        s = collect(
            CollectConfig(
                out=args.out,
                episodes=args.episodes,
                seed=args.seed,
                dart_steering=args.dart_steering,
                dart_longitudinal=args.dart_longitudinal,
                encoding=args.encoding,
                overwrite=args.overwrite,
            ),
            CarRacingConfig(
                domain_randomize=args.domain_randomize, max_episode_steps=args.max_episode_steps
            ),
            progress=True,
        )
        for e in s["per_episode"]:
            print(
                f"seed {e['seed']}: {e['frames']} frames, return {e['return']:.1f}, "
                f"laps {e['laps']:.0f}, off-track events {e['off_track_events']:.0f}"
            )
        print(
            f"wrote {s['frames']} frames in {s['episodes']} episodes (mean return "
            f"{s['mean_return']:.1f}, {s['laps']} laps, {s['off_track_events']} off-track events) "
            f"to {s['out']} in {s['seconds']:.1f} s"
        )


if __name__ == "__main__":
    main()
