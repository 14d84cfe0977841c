"""Drive the privileged expert over fresh road seeds and print distance, crashes and
departures.

python scripts/expert_check.py [--km 10 --first-seed 1000000 --profile easy|hard --preset summer]
"""

from __future__ import annotations

import argparse
import sys
import time

from lnn_drive.envs.config import PROFILES
from lnn_drive.envs.expert import drive_expert


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--km", type=float, default=10.0)
    ap.add_argument("--first-seed", type=int, default=1_000_000)
    ap.add_argument("--profile", default="easy", help=f"task profile: {', '.join(PROFILES)}")
    ap.add_argument("--preset", default="summer")
    ap.add_argument("--expert", default="stanley")
    args = ap.parse_args()
    if args.profile not in PROFILES:
        print(f"error: --profile must be one of {list(PROFILES)}, got {args.profile!r}")
        sys.exit(2)
    t0 = time.perf_counter()
    try:
        r = drive_expert(
            PROFILES[args.profile],
            km=args.km,
            first_seed=args.first_seed,
            preset=args.preset,
            expert=args.expert,
        )
    except ValueError as e:
        print(f"error: {e}")
        sys.exit(2)
    print(
        f"expert {args.expert}, {args.profile} profile: {r['km']:.2f} km on {r['episodes']} "
        f"unseen roads (seeds {r['seeds'][0]}..{r['seeds'][1]}), {r['crashes']} crashes "
        f"(2 m interventions), {r['lane_departures']} lane departures, "
        f"{r['departures_1m']} departures beyond 1 m, |lateral offset| max "
        f"{r['max_abs_offset']:.3f} m, mean {r['mean_abs_offset']:.3f} m "
        f"({time.perf_counter() - t0:.0f} s)"
    )


if __name__ == "__main__":
    main()
