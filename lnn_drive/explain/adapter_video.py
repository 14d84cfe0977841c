"""Closed-loop videos on adapted external environments (:mod:`lnn_drive.envs.adapters`,
e.g. CarRacing-v3): the frame the policy sees (after its preprocessing: the dashboard
cropped away) with the VisualBackProp overlay, and one bar per output, the policy's above
the privileged expert's."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import gymnasium as gym
import numpy as np

from lnn_drive.envs.adapters import find_adapter
from lnn_drive.eval.report import VideoSink
from lnn_drive.explain.flight_video import command_panel
from lnn_drive.explain.plots import overlay
from lnn_drive.explain.video import policy_saliency


def adapter_video(
    policy: Any,
    env_fn: Callable[[], gym.Env],
    path: str | Path,
    *,
    seed: int,
    scale: int = 4,
    max_steps: int | None = None,
) -> dict[str, Any]:
    """Drive one episode with ``policy`` and write an MP4 of it.

    Each video frame is the model-geometry frame (the policy's
    :class:`~lnn_drive.data.preprocess.Preprocess` crop and resize of the camera frame)
    with its saliency heat map, upsampled ``scale`` x, over the output bars.

    Args:
        policy: A ``Policy`` (``reset``, ``act``, ``preprocess``, encoder for saliency).
        env_fn: Builds the adapted environment.
        path: Output ``.mp4``.
        seed: Episode (track) seed.
        scale: Upsampling in the video.
        max_steps: Cut the episode after this many steps (``None``: the whole episode).

    Returns:
        ``{"path", "frames", "return"}``.
    """
    from lnn_drive.envs.record import Episode, FunctionRule, env_dt, record_episodes

    env = env_fn()
    spec = find_adapter(env).outputs
    names = [s.name for s in spec]
    high = np.array([max(abs(s.low), abs(s.high)) for s in spec], np.float64)
    frames: list[np.ndarray] = []
    commands: list[np.ndarray] = []
    experts: list[np.ndarray] = []
    total = [0.0]

    def drive(obs: np.ndarray, info: Any) -> np.ndarray:
        a = np.asarray(policy.act(obs), np.float32).reshape(-1)[: len(names)]
        frames.append(obs)
        commands.append(a)
        experts.append(np.asarray(info["expert_outputs"], np.float64))
        return a

    def after(info: Any) -> None:
        total[0] = float(info.get("episode_return", total[0]))

    rule = FunctionRule(drive, on_reset=lambda episode: policy.reset(1))
    try:
        fps = 1.0 / env_dt(env)
        record_episodes(
            env, None, rule, episodes=[Episode(seed=seed, steps=max_steps)], after_step=after
        )
    finally:
        env.close()
    stack = np.stack(frames)
    sal = policy_saliency(policy, stack)
    geo = policy.preprocess.geometry_batch(stack).transpose(0, 2, 3, 1)  # (N, h, w, 3)
    h, w = geo.shape[1:3]
    with VideoSink(path, fps=fps) as sink:
        for g, s, c, e in zip(geo, sal, commands, experts, strict=True):
            big = cv2.resize(
                overlay(np.ascontiguousarray(g), s),
                (w * scale, h * scale),
                interpolation=cv2.INTER_NEAREST,
            )
            sink.write(np.vstack([big, command_panel(c, e, high, width=w * scale, names=names)]))
    return {"path": str(Path(path).absolute()), "frames": len(commands), "return": total[0]}


__all__ = ["adapter_video"]
