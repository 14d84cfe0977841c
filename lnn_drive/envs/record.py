"""The one recording loop: every producer of episodes drives through :func:`record_episodes`.

A :class:`Rule` decides, at every step, the action that is executed and the labels that
are recorded: the privileged expert with DART noise (:class:`ExpertRule`), DAgger's
beta-mixture of expert and learner (:class:`MixtureRule`), a policy (:class:`PolicyRule`),
later a human at the keyboard. The environment declares what it observes besides the
camera (``observed``: signal name -> ``info`` key, units in the writer's ``signals``), so
the loop knows nothing about cars: a drone with 4-D actions or an adapted external
environment plugs in with its own rule and signal table.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import gymnasium as gym
import numpy as np

from lnn_drive.data.log import LogWriter
from lnn_drive.envs.expert import dart_action
from lnn_drive.protocols import PolicyProtocol


@dataclass(frozen=True, kw_only=True)
class Decision:
    """One step's choice.

    Attributes:
        action: The action executed in the environment, shape of its action space.
        labels: Signals recorded for this frame that the rule decides (e.g. the expert's
            clean ``steering`` label and the executed ``command``).
        expert: Whether the executed action is the expert's (DAgger statistics).
    """

    action: np.ndarray
    labels: Mapping[str, float]
    expert: bool = False


class EndEpisode(Exception):  # noqa: N818 - a signal, not an error
    """Raised by a rule's ``decide`` to end the current episode early; the frames recorded
    so far are kept (an episode ended before its first frame is discarded)."""


class EndRecording(EndEpisode):
    """Raised by a rule's ``decide`` to end the episode and the whole recording."""


class Rule(Protocol):
    """Decides the executed action and the labels at each step."""

    def reset(self, episode: Episode) -> None:
        """Called after ``env.reset`` of each episode."""

    def decide(self, obs: np.ndarray, info: Mapping[str, Any]) -> Decision:
        """The decision for the frame ``obs`` with the environment's ``info``."""


@dataclass(frozen=True, kw_only=True)
class Episode:
    """One episode to drive.

    Attributes:
        seed: ``env.reset(seed=...)``.
        meta: Stored with the episode in the log (``seed``, ``preset``, ``group``, ...).
        steps: Frame limit; ``None``: until the environment ends the episode.
        options: Passed to ``env.reset``.
    """

    seed: int
    meta: Mapping[str, Any] = field(default_factory=dict)
    steps: int | None = None
    options: Mapping[str, Any] | None = None


@dataclass(kw_only=True)
class RecordStats:
    """What :func:`record_episodes` drove.

    Attributes:
        episodes: Episodes driven.
        frames: Frames recorded (or stepped, without a writer).
        expert_frames: Frames whose executed action was the expert's.
        terminations: Episodes the environment terminated (crashes in terminate mode).
        interventions: Interventions reported by the environment (``info["intervened"]``).
        distance_m: Sum of ``info["distance"]`` at each episode's end (0 if not reported).
    """

    episodes: int = 0
    frames: int = 0
    expert_frames: int = 0
    terminations: int = 0
    interventions: int = 0
    distance_m: float = 0.0


def env_dt(env: gym.Env) -> float:
    """Seconds per step of ``env`` (its ``dt``, else 1 / ``metadata["render_fps"]``)."""
    dt = getattr(getattr(env, "unwrapped", env), "dt", None)
    return float(dt) if dt else 1.0 / float(getattr(env, "metadata", {}).get("render_fps", 30))


def record_episodes(
    env: gym.Env | Callable[[Episode], gym.Env],
    writer: LogWriter | None,
    rule: Rule,
    *,
    episodes: Iterable[Episode],
    observed: Mapping[str, str] | None = None,
    fixed: Mapping[str, float] | None = None,
    on_step: Callable[[np.ndarray, Mapping[str, Any], Decision], None] | None = None,
    after_step: Callable[[Mapping[str, Any]], None] | None = None,
    stop: Callable[[RecordStats], bool] | None = None,
) -> RecordStats:
    """Drive ``episodes`` with ``rule`` and append every frame to ``writer``.

    Args:
        env: The environment, or a function giving the environment for an episode (e.g.
            one per appearance preset; the caller closes them).
        writer: An open :class:`LogWriter` (each episode becomes one log episode), or
            ``None`` to drive without recording (expert checks, replays).
        rule: Decides the executed action and the rule's labels.
        episodes: What to drive, in order.
        observed: Recorded signal name -> ``info`` key, read at the frame's time.
        fixed: Recorded signals that are constant (e.g. the car's speed).
        on_step: Called with (frame, info, decision) before each step.
        after_step: Called with the ``info`` each step returns.
        stop: Checked before each episode; ``True`` ends the recording.

    Returns:
        The totals (:class:`RecordStats`).
    """
    stats = RecordStats()
    observed = dict(observed or {})
    fixed = dict(fixed or {})
    for episode in episodes:
        if stop is not None and stop(stats):
            break
        e = env if isinstance(env, gym.Env) or not callable(env) else env(episode)
        dt = env_dt(e)
        options = dict(episode.options) if episode.options else None
        obs, info = e.reset(seed=int(episode.seed), options=options)
        rule.reset(episode)
        ep = writer.episode(meta=dict(episode.meta)) if writer is not None else None
        ended: EndEpisode | None = None
        with ep if ep is not None else _NoEpisode():
            i = 0
            while episode.steps is None or i < episode.steps:
                try:
                    decision = rule.decide(obs, info)
                except EndEpisode as e:  # the rule (a person at the keyboard) ends it
                    ended = e
                    break
                if on_step is not None:
                    on_step(obs, info, decision)
                if ep is not None:
                    signals = {k: float(info[key]) for k, key in observed.items()}
                    ep.append(obs, timestamp=i * dt, **fixed, **signals, **decision.labels)
                stats.frames += 1
                stats.expert_frames += int(decision.expert)
                obs, _, terminated, truncated, info = e.step(decision.action)
                stats.interventions += int(bool(info.get("intervened", False)))
                if after_step is not None:
                    after_step(info)
                i += 1
                if terminated or truncated:
                    stats.terminations += int(terminated)
                    break
            if ep is not None and len(ep) == 0:
                ep.abort()
        stats.episodes += int(i > 0 or ended is None)
        stats.distance_m += float(info.get("distance", 0.0))
        if isinstance(ended, EndRecording):
            break
    return stats


class _NoEpisode:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


@dataclass
class ExpertRule:
    """The privileged expert (``info[expert_key]``) with DART noise on the executed action.

    Labels: ``steering`` (the clean expert action) and ``command`` (what was executed).

    Args:
        dart_std: Standard deviation of the noise on the executed action (0: clean).
        rng: Generator of the noise.
    """

    dart_std: float
    rng: np.random.Generator
    expert_key: str = "expert_action"

    def reset(self, episode: Episode) -> None:
        return None

    def decide(self, obs: np.ndarray, info: Mapping[str, Any]) -> Decision:
        label = float(info[self.expert_key])
        cmd = dart_action(label, self.dart_std, self.rng)
        return Decision(
            action=np.array([cmd], np.float32),
            labels={"steering": label, "command": cmd},
            expert=True,
        )


@dataclass
class MixtureRule:
    """DAgger's beta-mixture: the expert's action with probability ``beta``, the
    learner's otherwise; the label is always the expert's.

    Args:
        policy: The learner.
        beta: Probability of executing the expert's action.
        rng: Generator of the coin flips.
    """

    policy: PolicyProtocol
    beta: float
    rng: np.random.Generator
    expert_key: str = "expert_action"

    def reset(self, episode: Episode) -> None:
        self.policy.reset(1)

    def decide(self, obs: np.ndarray, info: Mapping[str, Any]) -> Decision:
        learner = float(np.asarray(self.policy.act(obs)).reshape(-1)[0])
        expert = float(info[self.expert_key])
        use_expert = bool(self.rng.random() < self.beta)
        cmd = expert if use_expert else learner
        return Decision(
            action=np.array([cmd], np.float32),
            labels={"steering": expert, "command": cmd},
            expert=use_expert,
        )


@dataclass
class PolicyRule:
    """A policy drives; its action is executed and recorded as ``command`` (and, with an
    expert in ``info``, the expert's action as ``steering``)."""

    policy: PolicyProtocol
    expert_key: str = "expert_action"

    def reset(self, episode: Episode) -> None:
        self.policy.reset(1)

    def decide(self, obs: np.ndarray, info: Mapping[str, Any]) -> Decision:
        action = np.asarray(self.policy.act(obs), np.float32).reshape(-1)
        labels = {"command": float(action[0])}
        if self.expert_key in info:
            labels["steering"] = float(info[self.expert_key])
        return Decision(action=action, labels=labels)


#: What the lane-keeping car observes besides the camera: signal -> ``info`` key.
CAR_OBSERVED: dict[str, str] = {
    "lateral_offset": "lateral_offset",
    "heading_error": "heading_error",
    "road_curvature": "road_curvature",
}

#: The signals a lane-keeping log holds, with their units.
CAR_SIGNALS: dict[str, str] = {
    "steering": "1/m",
    "speed": "m/s",
    "command": "1/m",
    "lateral_offset": "m",
    "heading_error": "rad",
    "road_curvature": "1/m",
}
