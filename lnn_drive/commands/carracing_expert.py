"""`carracing-expert`: drive the privileged CarRacing expert on track seeds; its return distribution.

lnn-drive carracing-expert episodes=100 first_seed=1000 out=docs/results/carracing_expert_100.json
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from lnn_drive.commands.config import UsageError, plain, to_dataclass
from lnn_drive.envs.adapters.carracing import CarRacingConfig, EpisodeResult, evaluate_expert

CONFIG = "carracing_expert"


def carracing_config(node: Any, **values: Any) -> CarRacingConfig:
    """The ``env`` group (``conf/env/carracing.yaml``) as a :class:`CarRacingConfig`."""
    d = dict(plain(node) or {})
    d.update(values)
    return to_dataclass(CarRacingConfig, d, where="env.", ignore=("id", "preprocess"))


def write_json_atomic(path: Path, payload: dict[str, Any]) -> None:
    """Write ``payload`` to ``path`` through a temporary file (never half-written)."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(payload, indent=2) + "\n")
    os.replace(tmp, path)


def run(cfg: DictConfig) -> int:
    """Drive, print one line per episode and the summary; write every episode to ``out``."""
    episodes, first = int(cfg.episodes), int(cfg.first_seed)
    if episodes < 1:
        raise UsageError(f"episodes must be >= 1, got {episodes}")
    out = None if cfg.out in (None, "") else Path(str(cfg.out))
    if out is not None and not out.parent.is_dir():
        raise FileNotFoundError(f"out: folder {out.parent} does not exist")
    env = carracing_config(cfg.env, pixels=bool(cfg.pixels))

    def show(e: EpisodeResult) -> None:
        print(
            f"seed {e.seed}: return {e.ret:.1f}, {e.steps} steps, laps {e.laps}, "
            f"off-track events {e.off_track_events}, {e.steps / e.seconds:.0f} steps/s",
            flush=True,
        )

    results, summary = evaluate_expert(
        env, seeds=list(range(first, first + episodes)), on_episode=show
    )
    print(json.dumps(summary, indent=2))
    if out is not None:
        write_json_atomic(
            out,
            {
                "command": f"lnn-drive carracing-expert episodes={episodes} first_seed={first}"
                + (" env.domain_randomize=true" if env.domain_randomize else "")
                + (" pixels=true" if env.pixels else ""),
                "config": env.to_dict(),
                "summary": summary,
                "episodes": [asdict(e) for e in results],
            },
        )
        print(f"wrote {out}")
    return 0
