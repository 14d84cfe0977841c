"""`expert-check`: drive the privileged expert over fresh road seeds; distance and crashes.

lnn-drive expert-check [km=10] [first_seed=1000000] [env.preset=summer] [env.expert=stanley]
lnn-drive expert-check env=lane_keeping_hard km=20 first_seed=10000   # the hard profile
lnn-drive expert-check env=lane_keeping_hard first_seed=200000 drive_steps=600 roads=67 \\
    out=docs/results/benchmark_hard_v2/expert/stanley.json   # the v2 calibration record
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict
from pathlib import Path

from omegaconf import DictConfig

from lnn_drive.commands.config import env_config
from lnn_drive.envs.expert import drive_expert

CONFIG = "expert_check"


def _options(cfg: DictConfig) -> tuple[float, int, int | None, int | None]:
    """``km``, ``first_seed``, ``drive_steps`` and ``roads``, checked (ValueError names
    the option)."""
    try:
        km = float(cfg.km)
    except (TypeError, ValueError):
        raise ValueError(f"km={cfg.km}: not a number") from None
    if not math.isfinite(km) or km <= 0:
        raise ValueError(f"km={cfg.km}: must be a positive distance in km")
    seed = cfg.first_seed
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"first_seed={seed}: must be a non-negative integer")
    steps = cfg.get("drive_steps")
    if steps is not None and (isinstance(steps, bool) or not isinstance(steps, int) or steps < 1):
        raise ValueError(f"drive_steps={steps}: must be a positive integer or null")
    roads = cfg.get("roads")
    if roads is not None and (isinstance(roads, bool) or not isinstance(roads, int) or roads < 1):
        raise ValueError(f"roads={roads}: must be a positive integer or null")
    return km, seed, steps, roads


def run(cfg: DictConfig) -> int:
    """Drive, print one line, and with ``out=`` write the record as JSON (with the
    environment's config hash and the code version, written atomically)."""
    km, first_seed, drive_steps, roads = _options(cfg)
    out = str(cfg.get("out") or "")
    if out and Path(out).is_dir():
        raise ValueError(f"out={out}: is a folder; give the JSON file to write")
    env = env_config(cfg.env)
    t0 = time.perf_counter()
    r = drive_expert(env, km=km, first_seed=first_seed, drive_steps=drive_steps, roads=roads)
    seconds = time.perf_counter() - t0
    print(
        f"expert {env.expert}: {r['km']:.2f} km on {r['episodes']} unseen roads (seeds "
        f"{r['seeds'][0]}..{r['seeds'][1]}), {r['crashes']} crashes, {r['lane_departures']} "
        f"lane departures, {r['departures_1m']} departures beyond {env.strict_departure:g} m, "
        f"|lateral offset| max "
        f"{r['max_abs_offset']:.3f} m, mean {r['mean_abs_offset']:.3f} m "
        f"({seconds:.0f} s)"
    )
    if out:
        from lnn_drive.eval.provenance import code_version, config_hash

        config = {
            "env": asdict(env),
            "km": km,
            "first_seed": first_seed,
            "drive_steps": drive_steps,
            "roads": roads,
        }
        doc = {
            "kind": "expert_check",
            "provenance": {
                "config_hash": config_hash(config),
                **code_version(conf_files=()),
                "config": config,
            },
            "result": {**r, "seeds": list(r["seeds"]), "seconds": round(seconds, 1)},
        }
        path = Path(out)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
        tmp.replace(path)
        print(f"record: {path}")
    return 0
