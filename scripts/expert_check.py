"""Drive the privileged expert over fresh road seeds and print distance and crashes.

python scripts/expert_check.py [--km 10 --first-seed 1000000 --preset summer]
"""

from __future__ import annotations

import argparse
import time

from lnn_drive.envs.expert import drive_expert


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--km", type=float, default=10.0)
    ap.add_argument("--first-seed", type=int, default=1_000_000)
    ap.add_argument("--preset", default="summer")
    ap.add_argument("--expert", default="stanley")
    args = ap.parse_args()
    t0 = time.perf_counter()
    r = drive_expert(
        {}, km=args.km, first_seed=args.first_seed, preset=args.preset, expert=args.expert
    )
    print(
        f"expert {args.expert}: {r['km']:.2f} km on {r['episodes']} unseen roads (seeds "
        f"{r['seeds'][0]}..{r['seeds'][1]}), {r['crashes']} crashes, |lateral offset| max "
        f"{r['max_abs_offset']:.3f} m, mean {r['mean_abs_offset']:.3f} m "
        f"({time.perf_counter() - t0:.0f} s)"
    )


if __name__ == "__main__":
    main()
