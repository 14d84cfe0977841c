"""DAgger (Ross et al. 2011) on top of behaviour cloning.

Round 0 is plain behaviour cloning on the configured logs. Each later round ``i`` rolls out
the mixture policy (the privileged expert's action is executed with probability
``beta_i = beta0 * beta_decay**(i-1)``, the learner's otherwise) on fresh roads, labels
every visited state with the expert's clean action (``info["expert_action"]``), writes the
round as a driving log through :class:`~lnn_drive.data.log.LogWriter`, adds it to the
training set and retrains. The environment runs in intervention mode, so a learner that
leaves the lane is put back and the round keeps collecting the states it drifts into.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig, OmegaConf, open_dict

from lnn_drive.data.log import LogWriter

#: Signals a DAgger round records (the simulator collector's set).
DAGGER_SIGNALS = {
    "steering": "1/m",
    "speed": "m/s",
    "command": "1/m",
    "lateral_offset": "m",
    "heading_error": "rad",
    "road_curvature": "1/m",
}


@dataclass(frozen=True, kw_only=True)
class DaggerConfig:
    """Options of DAgger (``conf/dagger.yaml``, key ``dagger``).

    Attributes:
        rounds: Learner rounds after the initial behaviour-cloning round (0: plain BC).
        episodes_per_round: Roads driven per round.
        steps_per_episode: Control steps per road.
        beta0: Probability of executing the expert's action in round 1.
        beta_decay: Factor applied to beta every further round.
        road_seed: First road seed of DAgger rollouts (keep it disjoint from evaluation's).
        seed: Seed of the expert/learner coin flips.
    """

    rounds: int = 2
    episodes_per_round: int = 4
    steps_per_episode: int = 300
    beta0: float = 0.5
    beta_decay: float = 0.5
    road_seed: int = 5000
    seed: int = 0

    def __post_init__(self) -> None:
        if self.rounds < 0:
            raise ValueError(f"dagger.rounds must be >= 0, got {self.rounds}")
        if self.episodes_per_round < 1 or self.steps_per_episode < 2:
            raise ValueError("dagger.episodes_per_round must be >= 1 and steps_per_episode >= 2")
        if not 0.0 <= self.beta0 <= 1.0 or not 0.0 <= self.beta_decay <= 1.0:
            raise ValueError(
                f"dagger.beta0 and dagger.beta_decay must be in [0, 1], got "
                f"{self.beta0}, {self.beta_decay}"
            )

    def beta(self, round_: int) -> float:
        """Expert probability of learner round ``round_`` (1-based)."""
        return float(self.beta0 * self.beta_decay ** (round_ - 1))


def collect_round(
    policy: Any,
    env: Any,
    root: str | Path,
    *,
    road_seeds: list[int],
    steps: int,
    beta: float,
    seed: int,
    speed: float,
    dt: float,
) -> dict[str, Any]:
    """Roll out the beta-mixture of expert and learner and log expert-labelled frames.

    Returns:
        ``{"root", "frames", "expert_share", "interventions"}``.
    """
    rng = np.random.default_rng(seed)
    h, w = env.observation_space.shape[:2]
    took_expert = 0
    frames = 0
    interventions = 0
    writer = LogWriter(
        root,
        height=h,
        width=w,
        fps=round(1 / dt),
        signals=DAGGER_SIGNALS,
        source=f"dagger (beta={beta:.3f})",
        extra={"beta": beta, "road_seeds": road_seeds},
    )
    with writer:
        for road in road_seeds:
            obs, info = env.reset(seed=int(road))
            policy.reset(1)
            with writer.episode(meta={"seed": int(road), "group": f"dagger-{road}"}) as ep:
                for k in range(steps):
                    learner = float(np.asarray(policy.act(obs)).reshape(-1)[0])
                    expert = float(info["expert_action"])
                    use_expert = rng.random() < beta
                    took_expert += int(use_expert)
                    cmd = expert if use_expert else learner
                    ep.append(
                        obs,
                        timestamp=k * dt,
                        steering=expert,
                        speed=speed,
                        command=cmd,
                        lateral_offset=float(info["lateral_offset"]),
                        heading_error=float(info["heading_error"]),
                        road_curvature=float(info.get("road_curvature", 0.0)),
                    )
                    frames += 1
                    obs, _, terminated, truncated, info = env.step(np.array([cmd], np.float32))
                    interventions += int(bool(info.get("intervened", False)))
                    if terminated or truncated:
                        break
    return {
        "root": str(Path(root)),
        "frames": frames,
        "expert_share": took_expert / max(frames, 1),
        "interventions": interventions,
    }


def dagger(
    cfg: DictConfig,
    *,
    train_fn: Callable[[DictConfig], dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Behaviour cloning followed by ``cfg.dagger.rounds`` DAgger rounds.

    ``cfg`` is a training config (``conf/train.yaml``) with an ``env`` group and a
    ``dagger`` section. Each round trains under ``<output_dir>/round_<i>`` and writes its
    rollouts to ``<output_dir>/dagger_data/round_<i>``.

    Returns:
        The last round's training result, plus ``rounds`` (per-round results and
        collection statistics) and ``roots`` (the aggregated datasets).
    """
    from lnn_drive.envs import make_env
    from lnn_drive.models import Policy

    if train_fn is None:
        from lnn_drive.train.bc import train as train_fn

    dcfg = DaggerConfig(**OmegaConf.to_container(cfg.dagger, resolve=True))
    out = Path(cfg.paths.output_dir)
    roots = [str(r) for r in cfg.data.roots]
    history: list[dict[str, Any]] = []

    def run(round_: int) -> dict[str, Any]:
        c = copy.deepcopy(cfg)
        with open_dict(c):
            c.paths.output_dir = str(out / f"round_{round_}")
            c.data.roots = list(roots)
        return train_fn(c)

    res = run(0)
    history.append({"round": 0, "beta": 1.0, "train": res, "roots": list(roots)})
    env_cfg = OmegaConf.to_container(cfg.env, resolve=True)
    for r in range(1, dcfg.rounds + 1):
        policy = Policy.load(res["best_checkpoint"])
        env = make_env(env_cfg, crash_mode="intervene", max_episode_steps=dcfg.steps_per_episode)
        try:
            u = env.unwrapped
            dt = float(getattr(u, "dt", 1 / 30))
            speed = float(getattr(getattr(u, "config", None), "speed", env_cfg.get("speed", 10)))
            first = dcfg.road_seed + (r - 1) * dcfg.episodes_per_round
            stats = collect_round(
                policy,
                env,
                out / "dagger_data" / f"round_{r}",
                road_seeds=list(range(first, first + dcfg.episodes_per_round)),
                steps=dcfg.steps_per_episode,
                beta=dcfg.beta(r),
                seed=dcfg.seed + r,
                speed=speed,
                dt=dt,
            )
        finally:
            env.close()
        roots.append(stats["root"])
        res = run(r)
        history.append({"round": r, "beta": dcfg.beta(r), "collect": stats, "train": res})
    return {**res, "rounds": history, "roots": roots}
