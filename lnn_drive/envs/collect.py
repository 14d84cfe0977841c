"""Roll the privileged expert through the simulator and write a driving log.

Every frame is labelled with the expert's clean action (``steering``); with DART noise
(``dart.std`` > 0) the executed action (``command``) is the label plus Gaussian noise, so
the log holds the drifts and the corrections back to the lane centre.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig, OmegaConf
from tqdm import tqdm

from lnn_drive.data.log import LogWriter
from lnn_drive.envs.config import PRESETS, EnvConfig
from lnn_drive.envs.expert import dart_action
from lnn_drive.envs.factory import ENV_ID, make_env

#: The signals a simulator log holds, with their units.
SIGNALS: dict[str, str] = {
    "steering": "1/m",
    "speed": "m/s",
    "command": "1/m",
    "lateral_offset": "m",
    "heading_error": "rad",
    "road_curvature": "1/m",
}


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
    dart_std: float = 0.0
    encoding: str = "ffv1"
    overwrite: bool = False
    progress: bool = True

    def __post_init__(self) -> None:
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


def _collect_config(cfg: DictConfig | Mapping[str, Any]) -> tuple[CollectConfig, dict[str, Any]]:
    if isinstance(cfg, DictConfig):
        if OmegaConf.is_missing(cfg, "out"):
            raise ValueError("collect: out (the dataset folder) is required, e.g. out=data/sim")
        cfg = OmegaConf.to_container(cfg, resolve=True)  # type: ignore[assignment]
    c = dict(cfg)  # type: ignore[arg-type]
    dart = dict(c.get("dart") or {})
    ccfg = CollectConfig(
        out=str(c.get("out", "")),
        episodes=int(c.get("episodes", 10)),
        steps=int(c.get("steps", 1000)),
        presets=tuple(c.get("presets") or ()),
        seed=int(c.get("seed", 0)),
        dart_std=float(dart.get("std", c.get("dart_std", 0.0))),
        encoding=str(c.get("encoding", "ffv1")),
        overwrite=bool(c.get("overwrite", False)),
        progress=bool(c.get("progress", True)),
    )
    return ccfg, dict(c.get("env") or {})


def collect(cfg: DictConfig | Mapping[str, Any]) -> dict[str, Any]:
    """Drive the expert and write a dataset through :class:`~lnn_drive.data.log.LogWriter`.

    Args:
        cfg: The composed ``collect`` config (keys of :class:`CollectConfig`, ``dart.std``
            for the DART noise, and the ``env`` group).

    Returns:
        ``{"out", "episodes", "frames", "distance_km", "interventions", "crashes",
        "seconds"}``.
    """
    ccfg, env_dict = _collect_config(cfg)
    base = EnvConfig.from_mapping(env_dict)
    presets = ccfg.presets or (base.preset,)
    rng = np.random.default_rng([ccfg.seed, 0xDA27])
    frames = crashes = interventions = 0
    distance = 0.0
    t0 = time.perf_counter()
    bar = tqdm(
        total=ccfg.episodes * ccfg.steps,
        unit="frame",
        desc="collect",
        disable=not ccfg.progress,
        dynamic_ncols=True,
    )
    envs: dict[str, Any] = {}
    try:
        with LogWriter(
            ccfg.out,
            height=base.height,
            width=base.width,
            fps=base.fps,
            signals=SIGNALS,
            source=f"simulator:{ENV_ID}",
            encoding=ccfg.encoding,
            overwrite=ccfg.overwrite,
            extra={
                "env": {f: getattr(base, f) for f in base.__dataclass_fields__},
                "dart_std": ccfg.dart_std,
                "presets": list(presets),
                "expert": base.expert,
            },
        ) as log:
            for e in range(ccfg.episodes):
                preset = presets[e % len(presets)]
                if preset not in envs:
                    envs[preset] = make_env(
                        env_dict, preset=preset, max_episode_steps=ccfg.steps, render_mode=None
                    )
                env = envs[preset]
                seed = ccfg.seed + e
                obs, info = env.reset(seed=seed)
                meta = {"seed": seed, "preset": preset, "group": f"road{seed}"}
                with log.episode(meta=meta) as ep:
                    for i in range(ccfg.steps):
                        label = float(info["expert_action"])
                        cmd = dart_action(label, ccfg.dart_std, rng)
                        ep.append(
                            obs,
                            timestamp=i * base.dt,
                            steering=label,
                            speed=base.speed,
                            command=cmd,
                            lateral_offset=info["lateral_offset"],
                            heading_error=info["heading_error"],
                            road_curvature=info["road_curvature"],
                        )
                        bar.update(1)
                        obs, _, term, trunc, info = env.step(np.array([cmd], np.float32))
                        if term or trunc:
                            crashes += int(term)
                            break
                    frames += len(ep)
                    distance += info["distance"]
                    interventions += int(info["interventions"])
    finally:
        bar.close()
        for env in envs.values():
            env.close()
    summary = {
        "out": str(Path(ccfg.out).absolute()),
        "episodes": ccfg.episodes,
        "frames": frames,
        "distance_km": distance / 1000.0,
        "interventions": interventions,
        "crashes": crashes,
        "seconds": time.perf_counter() - t0,
    }
    return summary
