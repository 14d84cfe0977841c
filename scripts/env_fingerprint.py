"""Fingerprint the lane-keeping simulator: SHA-256 of same-seed frames, labels and info.

    python scripts/env_fingerprint.py [--steps 120]

Drives the privileged expert for ``--steps`` steps from a few seeds and presets and
prints one hash per case. A refactor of the simulator that must not change behaviour
must print the same hashes (``tests/envs/test_fingerprint.py`` holds the ones recorded
before the road module was split).
"""

from __future__ import annotations

import argparse
import json

from lnn_drive.envs.fingerprint import CASES, fingerprint


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=120)
    args = ap.parse_args()
    out = {
        name: fingerprint(cfg, seed=seed, drift=drift, steps=args.steps)
        for name, (cfg, seed, drift) in CASES.items()
    }
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
