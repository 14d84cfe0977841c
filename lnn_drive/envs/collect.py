"""Roll the privileged expert through the simulator and write a driving log.

Every frame is labelled with the expert's clean action (``steering``); with DART noise
(``dart.std`` > 0) the executed action (``command``) is the label plus Gaussian noise, so
the log holds the drifts and the corrections back to the lane centre.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from tqdm import tqdm

from lnn_drive.data.log import LogWriter
from lnn_drive.envs.config import PRESETS, EnvConfig
from lnn_drive.envs.factory import ENV_ID, make_env
from lnn_drive.envs.record import CAR_OBSERVED, CAR_SIGNALS, Episode, ExpertRule, record_episodes

#: The signals a simulator log holds, with their units.
SIGNALS = CAR_SIGNALS


@dataclass(frozen=True, kw_only=True)
class CollectConfig:
    """What :func:`collect` writes.

    Attributes:
        out: Destination dataset folder (must not exist unless ``overwrite``).
        episodes: Number of episodes, one road seed each (``seed``, ``seed + 1``, ...).
        steps: Frames per episode (fewer if the car leaves the lane in terminate mode).
        presets: Appearance presets, used in turn episode by episode; empty = the env's.
        seed: First road seed; the DART noise generator is seeded from it too.
        dart_std: DART noise on the executed curvature (1/m); 0 = clean expert driving.
        encoding: Frame container (``ffv1`` lossless or ``mp4v``).
        overwrite: Replace an existing dataset at ``out``.
        progress: Show a progress bar.
    """

    out: str
    episodes: int = 10
    steps: int = 1000
    presets: tuple[str, ...] = ()
    seed: int = 0
    dart_std: float = 0.01
    encoding: str = "ffv1"
    overwrite: bool = False
    progress: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "presets", tuple(self.presets))
        if not str(self.out) or str(self.out) == "???":
            raise ValueError("collect: out (the dataset folder) is required, e.g. out=data/sim")
        if int(self.episodes) < 1:
            raise ValueError(f"collect: episodes must be >= 1, got {self.episodes}")
        if int(self.steps) < 1:
            raise ValueError(f"collect: steps must be >= 1, got {self.steps}")
        if not (math.isfinite(self.dart_std) and 0 <= self.dart_std <= 0.1):
            raise ValueError(f"collect: dart.std must be in [0, 0.1] 1/m, got {self.dart_std}")
        for p in self.presets:
            if p not in PRESETS:
                raise ValueError(
                    f"collect: unknown preset {p!r} in presets; valid presets: {', '.join(PRESETS)}"
                )


def collect(cfg: CollectConfig, env: EnvConfig | None = None) -> dict[str, Any]:
    """Drive the expert and write a dataset through :class:`~lnn_drive.data.log.LogWriter`.

    Args:
        cfg: What to collect.
        env: The simulator's configuration (default: :class:`EnvConfig` defaults).

    Returns:
        ``{"out", "episodes", "frames", "distance_km", "interventions", "crashes",
        "seconds"}``.
    """
    base = env or EnvConfig()
    presets = cfg.presets or (base.preset,)
    rng = np.random.default_rng([cfg.seed, 0xDA27])
    t0 = time.perf_counter()
    bar = tqdm(
        total=cfg.episodes * cfg.steps,
        unit="frame",
        desc="collect",
        disable=not cfg.progress,
        dynamic_ncols=True,
    )
    envs: dict[str, gym.Env] = {}

    def env_for(episode: Episode) -> gym.Env:
        preset = str(episode.meta["preset"])
        if preset not in envs:
            envs[preset] = make_env(
                base, preset=preset, max_episode_steps=cfg.steps, render_mode=None
            )
        return envs[preset]

    episodes = [
        Episode(
            seed=cfg.seed + e,
            meta={
                "seed": cfg.seed + e,
                "preset": presets[e % len(presets)],
                "group": f"road{cfg.seed + e}",
            },
            steps=cfg.steps,
        )
        for e in range(cfg.episodes)
    ]
    try:
        with LogWriter(
            cfg.out,
            height=base.height,
            width=base.width,
            fps=base.fps,
            signals=CAR_SIGNALS,
            source=f"simulator:{ENV_ID}",
            encoding=cfg.encoding,
            overwrite=cfg.overwrite,
            extra={
                "env": {f: getattr(base, f) for f in base.__dataclass_fields__},
                "dart_std": cfg.dart_std,
                "presets": list(presets),
                "expert": base.expert,
            },
        ) as log:
            stats = record_episodes(
                env_for,
                log,
                ExpertRule(dart_std=cfg.dart_std, rng=rng),
                episodes=episodes,
                observed=CAR_OBSERVED,
                fixed={"speed": base.speed},
                on_step=lambda *_: bar.update(1),
            )
    finally:
        bar.close()
        for e in envs.values():
            e.close()
    return {
        "out": str(Path(cfg.out).absolute()),
        "episodes": cfg.episodes,
        "frames": stats.frames,
        "distance_km": stats.distance_m / 1000.0,
        "interventions": stats.interventions,
        "crashes": stats.terminations,
        "seconds": time.perf_counter() - t0,
    }
