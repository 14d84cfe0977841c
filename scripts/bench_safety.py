"""Safety table: lane departures with and without the CBF filter, on the same roads and
noise seeds.

    python scripts/bench_safety.py --model ncp=runs/ncp/best.pt --model cnn=runs/cnn/best.pt

For each model and condition (clean, frame noise variances, actuation lag) it drives the
same roads with the bare policy and with the privileged-state CBF filter
(``lnn_drive.models.safety.SafetyFilter``) and prints departures (the simulator's
interventions: ``|offset| > 2.0 m``), departures per km, max |offset| and the share of
steps where the filter changed the command. Not covered: the vision state head and the
BarrierNet-trained model (see docs/safety.md).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch


def _condition(spec: str) -> tuple[str, float, float]:
    """``clean`` | ``noise=0.1`` | ``lag=0.1`` -> (name, noise variance, lag s)."""
    if spec == "clean":
        return spec, 0.0, 0.0
    key, _, val = spec.partition("=")
    if key not in ("noise", "lag") or not val:
        raise ValueError(f"--conditions: {spec!r} is not clean, noise=<var> or lag=<s>")
    v = float(val)
    return spec, (v if key == "noise" else 0.0), (v if key == "lag" else 0.0)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument(
        "--model", action="append", required=True, help="name=checkpoint (.pt or .onnx)"
    )
    ap.add_argument("--roads", type=int, default=4)
    ap.add_argument("--steps", type=int, default=1000, help="steps per road (1000 = 333 m)")
    ap.add_argument("--seed", type=int, default=60_000, help="first road seed")
    ap.add_argument("--noise-seed", type=int, default=0)
    ap.add_argument(
        "--conditions",
        default="clean,noise=0.1,noise=0.2,noise=0.3,lag=0.1",
        help="comma-separated: clean, noise=<variance>, lag=<seconds>",
    )
    ap.add_argument("--json", help="also write the rows here")
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    from lnn_drive.commands.evaluate import load_acting_policy
    from lnn_drive.envs import env_fn
    from lnn_drive.eval.rollout import run_drives
    from lnn_drive.models.safety import CBFConfig, SafetyFilter

    try:
        conds = [_condition(c.strip()) for c in a.conditions.split(",") if c.strip()]
        models = {}
        for spec in a.model:
            name, sep, path = spec.partition("=")
            if not sep:
                raise ValueError(f"--model {spec!r}: expected name=checkpoint")
            models[name] = load_acting_policy(path)
    except (ValueError, FileNotFoundError) as e:  # CheckpointMismatchError is a ValueError
        print(f"error: {e}", file=sys.stderr)
        return 2
    seeds = list(range(a.seed, a.seed + a.roads))
    rows = []
    print(
        f"Roads {seeds[0]}-{seeds[-1]}, {a.steps} steps each, noise seed {a.noise_seed}, "
        "privileged-state filter (CBFConfig defaults).\n"
    )
    print(
        "| model | condition | filter | departures | per km | max abs offset (m) | changed steps |"
    )
    print("| --- | --- | --- | ---: | ---: | ---: | ---: |")
    for name, policy in models.items():
        for cname, var, lag in conds:
            fn = env_fn({}, crash_mode="intervene", max_episode_steps=a.steps, actuation_lag=lag)
            for filt in ("none", "cbf"):
                pol = SafetyFilter(policy, CBFConfig()) if filt == "cbf" else policy
                tr = run_drives(
                    pol,
                    fn,
                    seeds=seeds,
                    num_envs=1,
                    vector="sync",
                    noise_variance=var,
                    noise_seed=a.noise_seed,
                )
                dep = sum(t.interventions for t in tr)
                km = sum(float(t.distance[-1]) for t in tr) / 1000.0
                mx = max(float(np.abs(t.lateral_offset).max()) for t in tr)
                changed = pol.stats["changed"] / pol.stats["steps"] if filt == "cbf" else 0.0
                rows.append(
                    dict(
                        model=name,
                        condition=cname,
                        filter=filt,
                        departures=dep,
                        per_km=dep / km,
                        max_abs_offset=mx,
                        changed=changed,
                        km=km,
                    )
                )
                print(
                    f"| {name} | {cname} | {filt} | {dep} | {dep / km:.2f} | {mx:.2f} | "
                    f"{changed:.1%} |",
                    flush=True,
                )
    if a.json:
        Path(a.json).write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
