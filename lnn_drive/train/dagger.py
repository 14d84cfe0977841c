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

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from lnn_drive.data.dataset import DataConfig
from lnn_drive.data.log import LogWriter
from lnn_drive.envs.config import EnvConfig
from lnn_drive.envs.record import (
    CAR_OBSERVED,
    CAR_SIGNALS,
    Episode,
    MixtureRule,
    env_dt,
    record_episodes,
)
from lnn_drive.models.config import ModelConfig
from lnn_drive.protocols import PolicyProtocol
from lnn_drive.train.bc import TrainConfig

#: Signals a DAgger round records (the simulator collector's set).
DAGGER_SIGNALS = CAR_SIGNALS


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
    policy: PolicyProtocol,
    env: gym.Env,
    root: str | Path,
    *,
    road_seeds: list[int],
    steps: int,
    beta: float,
    seed: int,
    speed: float,
) -> dict[str, Any]:
    """Roll out the beta-mixture of expert and learner and log expert-labelled frames.

    Returns:
        ``{"root", "frames", "expert_share", "interventions"}``.
    """
    h, w = env.observation_space.shape[:2]
    writer = LogWriter(
        root,
        height=h,
        width=w,
        fps=round(1 / env_dt(env)),
        signals=DAGGER_SIGNALS,
        source=f"dagger (beta={beta:.3f})",
        extra={"beta": beta, "road_seeds": road_seeds},
    )
    with writer:
        stats = record_episodes(
            env,
            writer,
            MixtureRule(policy=policy, beta=beta, rng=np.random.default_rng(seed)),
            episodes=[
                Episode(seed=int(r), meta={"seed": int(r), "group": f"dagger-{r}"}, steps=steps)
                for r in road_seeds
            ],
            observed=CAR_OBSERVED,
            fixed={"speed": speed},
        )
    return {
        "root": str(Path(root)),
        "frames": stats.frames,
        "expert_share": stats.expert_frames / max(stats.frames, 1),
        "interventions": stats.interventions,
    }


TrainFn = Callable[..., dict[str, Any]]


def dagger(
    dcfg: DaggerConfig,
    *,
    train: TrainConfig | None = None,
    data: DataConfig | None = None,
    model: ModelConfig | None = None,
    env: EnvConfig | None = None,
    out_dir: str | Path,
    train_fn: TrainFn | None = None,
    init_checkpoint: str | Path | None = None,
    env_fn: Callable[[], gym.Env] | None = None,
) -> dict[str, Any]:
    """Behaviour cloning followed by ``dcfg.rounds`` DAgger rounds.

    Each round trains under ``<out_dir>/round_<i>`` and writes its rollouts to
    ``<out_dir>/dagger_data/round_<i>``.

    Args:
        dcfg: DAgger's own options.
        train, data, model: The behaviour-cloning recipe of every round (``data.roots``
            are the initial logs; each round adds its rollouts).
        env: The simulator the rounds drive.
        out_dir: Where the rounds go.
        train_fn: Replaces :func:`~lnn_drive.train.bc.train` (same signature), e.g.
            :func:`~lnn_drive.train.launch.train_local` partially applied.
        init_checkpoint: A behaviour-cloned checkpoint to fine-tune: round 0 is not
            trained (it is this checkpoint) and every round starts from the previous
            round's best weights with ``train``'s budget (a fine-tune, fresh optimiser),
            so the rounds' total is ``rounds * train.max_steps`` steps on top of the BC
            run. ``None``: every round retrains from scratch.
        env_fn: Builds an adapted environment (:mod:`lnn_drive.envs.adapters`, e.g.
            CarRacing-v3) to drive the rounds in instead of the lane-keeping simulator
            (``env`` is then unused): the rounds are driven by the adapter's expert/learner
            mixture and logged with its outputs and signals
            (:func:`~lnn_drive.envs.adapters.collect_adapter_round`).

    Returns:
        The last round's training result, plus ``rounds`` (per-round results and
        collection statistics) and ``roots`` (the aggregated datasets).
    """
    from lnn_drive.envs import make_env
    from lnn_drive.models import Policy

    if train_fn is None:
        from lnn_drive.train.bc import train as train_fn

    tc = train or TrainConfig()
    base_data = data or DataConfig()
    env_cfg = env or EnvConfig()
    out = Path(out_dir)
    roots = list(base_data.roots)
    history: list[dict[str, Any]] = []

    def run(round_: int, start: str | None) -> dict[str, Any]:
        return train_fn(
            tc if start is None else dataclasses.replace(tc, init_checkpoint=start),
            data=dataclasses.replace(base_data, roots=tuple(roots)),
            model=model,
            run_dir=out / f"round_{round_}",
        )

    finetune = init_checkpoint is not None
    res = {"best_checkpoint": str(init_checkpoint), "steps": 0} if finetune else run(0, None)
    history.append({"round": 0, "beta": 1.0, "train": res, "roots": list(roots)})
    for r in range(1, dcfg.rounds + 1):
        policy = Policy.load(res["best_checkpoint"])
        first = dcfg.road_seed + (r - 1) * dcfg.episodes_per_round
        seeds = list(range(first, first + dcfg.episodes_per_round))
        root = out / "dagger_data" / f"round_{r}"
        if env_fn is not None:
            from lnn_drive.envs.adapters import collect_adapter_round

            e = env_fn()
            try:
                stats = collect_adapter_round(
                    policy,
                    e,
                    root,
                    seeds=seeds,
                    beta=dcfg.beta(r),
                    seed=dcfg.seed + r,
                    steps=dcfg.steps_per_episode,
                )
            finally:
                e.close()
            stats.pop("per_episode", None)
        else:
            e = make_env(env_cfg, crash_mode="intervene", max_episode_steps=dcfg.steps_per_episode)
            try:
                stats = collect_round(
                    policy,
                    e,
                    root,
                    road_seeds=seeds,
                    steps=dcfg.steps_per_episode,
                    beta=dcfg.beta(r),
                    seed=dcfg.seed + r,
                    speed=env_cfg.speed,
                )
            finally:
                e.close()
        roots.append(stats["root"])
        res = run(r, str(res["best_checkpoint"]) if finetune else None)
        history.append({"round": r, "beta": dcfg.beta(r), "collect": stats, "train": res})
    return {**res, "rounds": history, "roots": roots}
