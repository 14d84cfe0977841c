"""Closed-loop episodes of a policy on an adapted gymnasium environment, scored by return.

For environments that enter through an adapter (``lnn_drive.envs.adapters``): the policy's
physical outputs (``act_batch`` on the raw camera frame; its own preprocessing crops and
resizes) go straight to the adapter, which converts them to the env's action. Reported per
episode: the return, steps, and the adapter's final ``info`` signals (``laps``,
``off_track_events``, ``progress`` where the adapter provides them).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np

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
        k = int(env.action_space.shape[0])
        for n, seed in enumerate(seeds):
            rng = np.random.default_rng([int(noise_seed), int(seed)])
            obs, info = env.reset(seed=int(seed))
            policy.reset(batch_size=1)
            ret, steps = 0.0, 0
            while True:
                frame = add_frame_noise(obs, std, rng) if std > 0 else obs
                y = np.asarray(policy.act_batch(frame[None]), np.float64)  # (1, k)
                if y.ndim != 2 or y.shape[1] < k:
                    raise RolloutError(
                        f"policy.act_batch returned shape {y.shape}; the environment needs "
                        f"(1, {k}) outputs"
                    )
                if on_frame is not None and n == 0:
                    on_frame(steps, frame, y[0, :k])
                obs, r, term, trunc, info = env.step(y[0, :k])
                ret += float(r)
                steps += 1
                if term or trunc:
                    break
            out.append(
                EpisodeReturn(
                    seed=int(seed),
                    ret=ret,
                    steps=steps,
                    terminated=bool(term),
                    signals={s: float(info[s]) for s in signal_names if s in info},
                )
            )
    finally:
        env.close()
    return out


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
