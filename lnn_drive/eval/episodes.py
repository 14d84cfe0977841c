"""Closed-loop episodes of a policy on an adapted gymnasium environment, scored by return.

For environments that enter through an adapter (``lnn_drive.envs.adapters``): the policy's
physical outputs (``act_batch`` on the raw camera frame; its own preprocessing crops and
resizes) go straight to the adapter, which converts them to the env's action. Reported per
episode: the return, steps, and the adapter's final ``info`` signals (``laps``,
``off_track_events``, ``progress`` where the adapter provides them).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np

from lnn_drive.envs.record import Decision, Episode, record_episodes
from lnn_drive.eval.rollout import BatchPolicy, RolloutError, check_compatible
from lnn_drive.eval.wrappers import add_frame_noise


@dataclass(frozen=True, kw_only=True)
class EpisodeReturn:
    """One closed-loop episode.

    Attributes:
        seed: Environment seed.
        ret: Return.
        steps: Steps taken.
        terminated: The env terminated (rather than hit its time limit).
        signals: The adapter's ``info`` signals at the end (``laps``, ``off_track_events``...).
    """

    seed: int
    ret: float
    steps: int
    terminated: bool
    signals: dict[str, float] = field(default_factory=dict)


def run_episodes(
    policy: BatchPolicy,
    env_fn: Callable[[], gym.Env],
    *,
    seeds: Sequence[int],
    noise_variance: float = 0.0,
    noise_seed: int = 0,
    signal_names: Sequence[str] = (),
    on_frame: Callable[[int, np.ndarray, np.ndarray], None] | None = None,
) -> list[EpisodeReturn]:
    """Drive one episode per seed with ``policy`` and return their scores.

    Args:
        policy: ``reset``, ``act_batch`` (physical outputs (1, k)) and optionally
            ``preprocess``.
        env_fn: Zero-argument constructor of the adapted environment.
        seeds: One episode each.
        noise_variance: Gaussian frame noise on the [0, 1] scale (the NCP paper's protocol),
            seeded from ``(noise_seed, seed)``.
        noise_seed: Noise seed.
        signal_names: ``info`` keys to keep from the last step of each episode.
        on_frame: Called as ``on_frame(step, frame, outputs)`` on the first episode.

    Raises:
        RolloutError: the policy does not fit the environment (checked before driving).
    """
    if not seeds:
        raise ValueError("no seeds to drive")
    if noise_variance < 0:
        raise ValueError(f"noise variance must be >= 0, got {noise_variance}")
    std = float(np.sqrt(noise_variance))
    env = env_fn()
    out: list[EpisodeReturn] = []
    try:
        check_compatible(policy, env.observation_space, where="environment")
        rule = _ReturnRule(
            policy, k=int(env.action_space.shape[0]), std=std, noise_seed=int(noise_seed)
        )
        rule.on_frame = on_frame
        for seed in seeds:
            last: list[Mapping[str, Any]] = [{}]
            stats = record_episodes(
                env,
                None,
                rule,
                episodes=[Episode(seed=int(seed))],
                after_step=lambda info, last=last: last.__setitem__(0, info),
            )
            rule.on_frame = None  # the first episode only
            out.append(
                EpisodeReturn(
                    seed=int(seed),
                    ret=stats.reward,
                    steps=stats.frames,
                    terminated=bool(stats.terminations),
                    signals={s: float(last[0][s]) for s in signal_names if s in last[0]},
                )
            )
    finally:
        env.close()
    return out


@dataclass
class _ReturnRule:
    """:func:`~lnn_drive.envs.record.record_episodes` rule of :func:`run_episodes`: the
    policy acts on the (noisy) frame; its first ``k`` outputs are the action."""

    policy: BatchPolicy
    k: int
    std: float
    noise_seed: int
    on_frame: Callable[[int, np.ndarray, np.ndarray], None] | None = None
    rng: np.random.Generator | None = None
    steps: int = 0

    def reset(self, episode: Episode) -> None:
        self.rng = np.random.default_rng([self.noise_seed, int(episode.seed)])
        self.policy.reset(batch_size=1)
        self.steps = 0

    def decide(self, obs: np.ndarray, info: Mapping[str, Any]) -> Decision:
        frame = add_frame_noise(obs, self.std, self.rng) if self.std > 0 else obs
        y = np.asarray(self.policy.act_batch(frame[None]), np.float64)  # (1, k)
        if y.ndim != 2 or y.shape[1] < self.k:
            raise RolloutError(
                f"policy.act_batch returned shape {y.shape}; the environment needs "
                f"(1, {self.k}) outputs"
            )
        if self.on_frame is not None:
            self.on_frame(self.steps, frame, y[0, : self.k])
        self.steps += 1
        return Decision(action=y[0, : self.k], labels={})


def summarise_returns(episodes: Sequence[EpisodeReturn]) -> dict[str, Any]:
    """Mean, std, min, median of the returns, and the sums of ``laps`` and
    ``off_track_events`` where recorded."""
    r = np.array([e.ret for e in episodes], np.float64)
    s: dict[str, Any] = {
        "episodes": len(r),
        "return_mean": float(r.mean()),
        "return_std": float(r.std()),
        "return_min": float(r.min()),
        "return_median": float(np.median(r)),
    }
    for key in ("laps", "off_track_events"):
        if all(key in e.signals for e in episodes):
            s[key] = float(sum(e.signals[key] for e in episodes))
    return s
