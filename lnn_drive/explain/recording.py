"""Closed-loop recordings of a policy for explanation: what it saw, did and felt, step by
step, through the project's one recording loop (:func:`lnn_drive.envs.record.record_episodes`).
Plots and analyses of a recording live in :mod:`lnn_drive.explain.dynamics`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np

from lnn_drive.envs.record import Decision, Episode, record_episodes
from lnn_drive.protocols import InspectablePolicy, PolicyProtocol

__all__ = ["ClosedLoopRecord", "record_closed_loop", "steering_index"]


@dataclass(frozen=True, kw_only=True)
class ClosedLoopRecord:
    """One closed-loop run of a policy, step by step (T steps).

    Attributes:
        frames: (T, H, W, 3) uint8 camera frames the policy saw, or ``None``.
        labels: (T, H, W) uint8 semantic label images, or ``None``.
        actions: (T, k) the policy's outputs (physical units).
        steering: (T,) the commanded curvature sent to the env (1/m).
        expert: (T,) ``info["expert_action"]`` for the same states (1/m).
        states: (T, n) controller state after each step (``policy.neuron_state()[0]``).
        groups: Neuron groups (``policy.neuron_groups()``), possibly empty.
        lateral_offset: (T,) metres.
        seed: Road seed.
    """

    frames: np.ndarray | None
    labels: np.ndarray | None
    actions: np.ndarray
    steering: np.ndarray
    expert: np.ndarray
    states: np.ndarray
    groups: dict[str, list[int]] = field(default_factory=dict)
    lateral_offset: np.ndarray
    seed: int

    def __post_init__(self) -> None:
        t = len(self.steering)
        for name in ("actions", "expert", "states", "lateral_offset"):
            if len(getattr(self, name)) != t:
                raise ValueError(f"ClosedLoopRecord.{name}: {len(getattr(self, name))} rows != {t}")
        for name in ("frames", "labels"):
            v = getattr(self, name)
            if v is not None and len(v) != t:
                raise ValueError(f"ClosedLoopRecord.{name}: {len(v)} rows != {t}")

    def __len__(self) -> int:
        return len(self.steering)


def steering_index(policy: PolicyProtocol) -> int:
    """Index of the steering output in ``policy.output_names`` (0 when not named)."""
    names = list(getattr(policy, "output_names", []) or [])
    return names.index("steering") if "steering" in names else 0


class _SteeringRule:
    """The policy drives; its steering output is executed (the full output is kept)."""

    def __init__(self, policy: PolicyProtocol, k: int) -> None:
        self.policy, self.k = policy, k
        self.last = np.zeros(0)

    def reset(self, episode: Episode) -> None:
        self.policy.reset(1)

    def decide(self, obs: np.ndarray, info: Mapping[str, Any]) -> Decision:
        self.last = np.asarray(self.policy.act(obs), np.float64).reshape(-1)
        return Decision(action=np.array([self.last[self.k]], np.float32), labels={})


def record_closed_loop(
    policy: InspectablePolicy,
    env: gym.Env,
    *,
    steps: int,
    seed: int,
    keep_frames: bool = True,
    labels: bool = False,
    options: Mapping[str, Any] | None = None,
) -> ClosedLoopRecord:
    """Drive ``env`` with ``policy`` for up to ``steps`` steps (stopping at episode end),
    recording actions, the expert's label, and the neuron states.

    Args:
        policy: A ``Policy`` (``reset``, ``act``, ``neuron_state``, ``neuron_groups``).
        env: A LaneKeeping gymnasium env (``info["expert_action"]``; ``render_labels()`` on
            ``env.unwrapped`` when ``labels``).
        steps: Maximum number of steps.
        seed: Road seed for ``env.reset``.
        keep_frames: Keep the camera frames.
        labels: Keep the semantic label image of each frame.
        options: Passed to ``env.reset``.

    Returns:
        :class:`ClosedLoopRecord`.
    """
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    rule = _SteeringRule(policy, steering_index(policy))
    frames, labs, acts, steer, expert, states, offs = [], [], [], [], [], [], []

    def on_step(obs: np.ndarray, info: Mapping[str, Any], decision: Decision) -> None:
        if keep_frames:
            frames.append(obs)
        if labels:
            labs.append(np.asarray(env.unwrapped.render_labels()))
        expert.append(float(info["expert_action"]))
        acts.append(rule.last)
        steer.append(float(decision.action[0]))
        states.append(np.asarray(policy.neuron_state(), np.float64).reshape(-1))

    record_episodes(
        env,
        None,
        rule,
        episodes=[Episode(seed=int(seed), steps=int(steps), options=options)],
        on_step=on_step,
        after_step=lambda info: offs.append(float(info.get("lateral_offset", np.nan))),
    )
    groups = policy.neuron_groups() if hasattr(policy, "neuron_groups") else {}
    return ClosedLoopRecord(
        frames=np.stack(frames) if keep_frames else None,
        labels=np.stack(labs) if labels else None,
        actions=np.stack(acts),
        steering=np.asarray(steer),
        expert=np.asarray(expert),
        states=np.stack(states),
        groups={k: list(map(int, v)) for k, v in (groups or {}).items()},
        lateral_offset=np.asarray(offs),
        seed=int(seed),
    )
