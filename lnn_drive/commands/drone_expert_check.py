"""`drone-expert-check`: fly the drone's privileged expert over fresh scenes, per season;
successes and each failure mode, with Wilson 95% intervals (issue 14's bar: >= 99% of 200
episodes in every season).

lnn-drive drone-expert-check [episodes=200] [seasons=[summer,winter]] [env.gust_std=0.5]
    [env.command_noise_std=0.05] [dart_std=0.1]
"""

from __future__ import annotations

from omegaconf import DictConfig

from lnn_drive.commands.config import plain
from lnn_drive.envs.drone_config import DroneConfig
from lnn_drive.envs.drone_expert import fly_expert
from lnn_drive.eval.drone import wilson_interval

CONFIG = "drone_expert_check"


def run(cfg: DictConfig) -> int:
    """Fly and print one Markdown row per season, then the verdict."""
    c = plain(cfg)
    env = DroneConfig.from_mapping(c["env"])
    seasons = list(c["seasons"]) or [env.season]
    episodes, first, dart = int(c["episodes"]), int(c["first_seed"]), float(c["dart_std"])
    print(
        f"expert, {episodes} episodes per season from seed {first}, gust_std={env.gust_std} m/s, "
        f"command_noise_std={env.command_noise_std}, dart_std={dart}"
    )
    print(
        "| season | success | timeout | collision | target lost | rate (95% CI) | time to target |"
    )
    print("|---|---|---|---|---|---|---|")
    worst = 1.0
    for season in seasons:
        base = {**env.to_dict(), "season": season}
        r = fly_expert(base, episodes=episodes, first_seed=first, dart_std=dart)
        lo, hi = wilson_interval(r["success"], r["episodes"])
        worst = min(worst, r["success_rate"])
        print(
            f"| {season} | {r['success']}/{r['episodes']} | {r['timeout']} | {r['collision']} | "
            f"{r['target_lost']} | {r['success_rate']:.1%} [{lo:.1%}, {hi:.1%}] | "
            f"{r['mean_time_s']:.1f} s |"
        )
    print(f"bar >= 99% in every season: {'met' if worst >= 0.99 else 'MISSED'} (worst {worst:.1%})")
    return 0
