"""`expert-check`: drive the privileged expert over fresh road seeds; distance and crashes.

lnn-drive expert-check [km=10] [first_seed=1000000] [env.preset=summer] [env.expert=stanley]
lnn-drive expert-check env=lane_keeping_hard km=20 first_seed=10000   # the hard profile
"""

from __future__ import annotations

import time

from omegaconf import DictConfig

from lnn_drive.commands.config import env_config
from lnn_drive.envs.expert import drive_expert

CONFIG = "expert_check"


def run(cfg: DictConfig) -> int:
    """Drive and print one line."""
    env = env_config(cfg.env)
    t0 = time.perf_counter()
    r = drive_expert(env, km=float(cfg.km), first_seed=int(cfg.first_seed))
    print(
        f"expert {env.expert}: {r['km']:.2f} km on {r['episodes']} unseen roads (seeds "
        f"{r['seeds'][0]}..{r['seeds'][1]}), {r['crashes']} crashes, {r['lane_departures']} "
        f"lane departures, {r['departures_1m']} departures beyond {env.strict_departure:g} m, "
        f"|lateral offset| max "
        f"{r['max_abs_offset']:.3f} m, mean {r['mean_abs_offset']:.3f} m "
        f"({time.perf_counter() - t0:.0f} s)"
    )
    return 0
