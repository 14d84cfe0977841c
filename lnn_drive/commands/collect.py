"""`collect`: roll the simulator's expert into a driving log, with DART noise for recovery data.

lnn-drive collect out=data/sim episodes=50 steps=1000 presets=[summer,autumn] dart.std=0.01
"""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig

from lnn_drive.commands.config import JOB_KEYS, env_config, plain, to_dataclass
from lnn_drive.envs.collect import CollectConfig, collect
from lnn_drive.envs.config import EnvConfig

CONFIG = "collect"


def collect_config(node: Any, **values: Any) -> CollectConfig:
    """A :class:`CollectConfig` from collect options (``dart.std`` nested as in
    ``conf/collect.yaml``) plus ``values``."""
    d = dict(plain(node) or {})
    dart = d.pop("dart", None) or {}
    if set(dart) - {"std"}:
        raise ValueError(f"unknown option(s) dart.{', dart.'.join(sorted(set(dart) - {'std'}))}")
    if "std" in dart:
        d["dart_std"] = float(dart["std"])
    d.update(values)
    return to_dataclass(CollectConfig, d)


def configs(cfg: DictConfig) -> tuple[CollectConfig, EnvConfig]:
    """The typed configs of a composed ``conf/collect.yaml``."""
    return (
        collect_config({k: v for k, v in plain(cfg).items() if k not in JOB_KEYS}),
        env_config(cfg.env),
    )


def run(cfg: DictConfig) -> int:
    """Collect, then print one summary line."""
    s = collect(*configs(cfg))
    print(
        f"wrote {s['frames']} frames in {s['episodes']} episodes ({s['distance_km']:.2f} km, "
        f"{s['crashes']} crashes, {s['interventions']} interventions) to {s['out']} "
        f"in {s['seconds']:.1f} s"
    )
    return 0
