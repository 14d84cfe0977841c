"""Drone safety table: collisions with and without the barrier filter, on the same scenes.

    python scripts/bench_safety_drone.py [--episodes 100] [--checkpoint runs/drone/best.pt]
        [--seasons summer winter] [--noise 0.0 0.1]

Flies each policy on the same held-out scenes (seeds from 3,000,000) bare (``none``) and
inside :class:`lnn_drive.models.drone_safety.DroneSafetyFilter` on the simulator's state
(``cbf``): a ``blind`` policy (full speed ahead, descending 0.2 m/s, each of the batch's
rows turning at its own rate in [-0.4, 0.4] rad/s, flown the whole 20 s with
``lost_seconds=60``: it flies into the trees, the filter's stress test) and, with ``--checkpoint``, a trained flight policy. Prints success,
collisions (trees, bushes, ground), timeouts, the share of commands the filter changed and
the steps it decided without a feasible command.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np


class Blind:
    """Full speed ahead, slightly descending, each row turning at its own rate."""

    name = "blind"

    def reset(self, batch_size: int = 1) -> None:
        return None

    def reset_rows(self, mask: np.ndarray) -> None:
        return None

    def act_batch(self, frames: np.ndarray) -> np.ndarray:
        n = len(frames)
        return np.stack(
            [np.full(n, 3.0), np.zeros(n), np.full(n, -0.2), np.linspace(-0.4, 0.4, n)], 1
        )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--episodes", type=int, default=100)
    p.add_argument("--checkpoint", default=None, help="a trained drone policy's best.pt")
    p.add_argument("--seasons", nargs="+", default=["summer"])
    p.add_argument("--noise", nargs="+", type=float, default=[0.0])
    p.add_argument("--first-seed", type=int, default=3_000_000)
    args = p.parse_args(argv)
    from lnn_drive.envs.drone_config import DroneConfig
    from lnn_drive.eval.drone import DroneEvalConfig, evaluate_flights
    from lnn_drive.models.drone_safety import DroneCBFConfig, DroneSafetyFilter

    try:
        ecfg = DroneEvalConfig(
            episodes=args.episodes,
            seasons=tuple(args.seasons),
            noise_variances=tuple(args.noise),
            first_seed=args.first_seed,
        )
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    # the blind policy never looks for the target: keep it flying the whole 20 s
    policies: dict[str, tuple] = {"blind": (Blind, DroneConfig(lost_seconds=60.0))}
    if args.checkpoint:
        import torch

        from lnn_drive.models import Policy

        torch.set_num_threads(1)
        try:
            pol = Policy.load(args.checkpoint)
        except (OSError, ValueError, KeyError) as e:
            print(f"error: --checkpoint {args.checkpoint}: {e}", file=sys.stderr)
            return 2
        pol.eval()
        h, w = pol.preprocess.in_height or 72, pol.preprocess.in_width or 128
        policies["checkpoint"] = (lambda: pol, DroneConfig(height=h, width=w))
    print(
        "| policy | condition | filter | episodes | success | collision | timeout | "
        "target lost | filter changed | infeasible steps | s |"
    )
    print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, (make, env) in policies.items():
        for filt in ("none", "cbf"):
            base = make()
            pol = base if filt == "none" else DroneSafetyFilter(base, env, DroneCBFConfig())
            t0 = time.perf_counter()
            results = evaluate_flights(pol, env, ecfg)
            secs = (time.perf_counter() - t0) / len(results)
            for r in results:
                o, f = r.outcomes, r.filter_stats
                print(
                    f"| {name} | {r.name} | {filt} | {r.episodes} | {o['success']} | "
                    f"{o['collision']} | {o['timeout']} | {o['target_lost']} | "
                    f"{f.get('filter_changed', 0):.1%} | {f.get('filter_infeasible_steps', 0)} | "
                    f"{secs:.0f} |"
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
