"""`carracing-collect`: record the CarRacing expert's drives, with DART noise, as a driving log.

lnn-drive carracing-collect out=data/carracing episodes=50 seed=0 dart.steering=0.005 dart.longitudinal=0.1
"""

from __future__ import annotations

from omegaconf import DictConfig

from lnn_drive.commands.carracing_expert import carracing_config
from lnn_drive.commands.config import JOB_KEYS, UsageError, plain, to_dataclass
from lnn_drive.envs.adapters.carracing import CollectConfig, collect

CONFIG = "carracing_collect"


def collect_config(cfg: DictConfig) -> CollectConfig:
    """The collection options of a composed ``conf/carracing_collect.yaml``."""
    d = {k: v for k, v in plain(cfg).items() if k not in (*JOB_KEYS, "progress")}
    dart = dict(d.pop("dart", None) or {})
    unknown = sorted(set(dart) - {"steering", "longitudinal"})
    if unknown:
        raise UsageError(f"unknown option(s) {', '.join('dart.' + k for k in unknown)}")
    d.update({f"dart_{k}": float(v) for k, v in dart.items()})
    return to_dataclass(CollectConfig, d)


def run(cfg: DictConfig) -> int:
    """Collect, then print one line per episode and a summary."""
    s = collect(collect_config(cfg), carracing_config(cfg.env), progress=bool(cfg.progress))
    for e in s["per_episode"]:
        print(
            f"seed {e['seed']}: {e['frames']} frames, return {e['episode_return']:.1f}, "
            f"laps {e['laps']:.0f}, off-track events {e['off_track_events']:.0f}"
        )
    print(
        f"wrote {s['frames']} frames in {s['episodes']} episodes (mean return "
        f"{s['mean_return']:.1f}, {s['laps']} laps, {s['off_track_events']} off-track events) "
        f"to {s['out']} in {s['seconds']:.1f} s"
    )
    return 0
