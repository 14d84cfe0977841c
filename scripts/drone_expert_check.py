"""How often the drone's privileged expert succeeds, per season (issue 14's bar: >= 99%
of 200 episodes in each).

    python scripts/drone_expert_check.py [--episodes 200] [--seasons summer autumn ...]
        [--gust-std 0.0] [--noise-std 0.0] [--dart-std 0.0]

Prints one Markdown row per season: successes, timeouts, collisions, target losses, the
success rate with its Wilson 95% interval, and the mean time to the target.
"""

from __future__ import annotations

import argparse
import sys

from lnn_drive.envs.drone_config import SEASONS
from lnn_drive.envs.drone_expert import fly_expert
from lnn_drive.eval.drone import wilson_interval


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--episodes", type=int, default=200)
    ap.add_argument("--seasons", nargs="+", default=list(SEASONS))
    ap.add_argument("--first-seed", type=int, default=1_000_000)
    ap.add_argument("--gust-std", type=float, default=0.0, help="wind gusts (m/s)")
    ap.add_argument("--noise-std", type=float, default=0.0, help="command noise (fraction)")
    ap.add_argument("--dart-std", type=float, default=0.0, help="DART noise (fraction)")
    args = ap.parse_args()
    print(
        f"expert, {args.episodes} episodes per season from seed {args.first_seed}, "
        f"gust_std={args.gust_std} m/s, command_noise_std={args.noise_std}, dart_std={args.dart_std}"
    )
    print(
        "| season | success | timeout | collision | target lost | rate (95% CI) | time to target |"
    )
    print("|---|---|---|---|---|---|---|")
    worst = 1.0
    for season in args.seasons:
        try:
            r = fly_expert(
                {"season": season, "gust_std": args.gust_std, "command_noise_std": args.noise_std},
                episodes=args.episodes,
                first_seed=args.first_seed,
                dart_std=args.dart_std,
            )
        except ValueError as e:
            print(f"error: {e}", file=sys.stderr)
            raise SystemExit(2) from e
        lo, hi = wilson_interval(r["success"], r["episodes"])
        worst = min(worst, r["success_rate"])
        print(
            f"| {season} | {r['success']}/{r['episodes']} | {r['timeout']} | {r['collision']} | "
            f"{r['target_lost']} | {r['success_rate']:.1%} [{lo:.1%}, {hi:.1%}] | "
            f"{r['mean_time_s']:.1f} s |"
        )
    print(f"bar >= 99% in every season: {'met' if worst >= 0.99 else 'MISSED'} (worst {worst:.1%})")


if __name__ == "__main__":
    main()
