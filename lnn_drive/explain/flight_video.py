"""Flight videos: a closed-loop flight with the VisualBackProp overlay and the four flight
commands (the policy's against the expert's) drawn under the frame."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from lnn_drive.envs.drone_config import ACTION_SIGNALS, DroneConfig
from lnn_drive.envs.fly_to_target import make_drone_env
from lnn_drive.eval.report import VideoSink
from lnn_drive.explain.plots import overlay
from lnn_drive.explain.video import policy_saliency

#: Bar colours (RGB): the policy's command and the expert's.
POLICY_RGB = (255, 170, 40)
EXPERT_RGB = (90, 220, 90)


def command_panel(
    command: np.ndarray,
    expert: np.ndarray,
    high: np.ndarray,
    *,
    width: int,
    row: int = 18,
    names: Sequence[str] = ACTION_SIGNALS,
) -> np.ndarray:
    """One signed bar per output (default the four flight commands vx, vy, vz, yaw rate),
    the policy's above the expert's, each scaled to its bound ``high``; uint8 RGB
    (len(names) * row, width, 3)."""
    panel = np.full((len(names) * row, width, 3), 20, np.uint8)
    label_w = max(74, 6 * max(map(len, names)) + 26)  # 74 fits "yaw_rate +1.00"
    half = (width - label_w - 6) // 2
    centre = label_w + half
    for i, name in enumerate(names):
        top = i * row
        cv2.putText(
            panel, f"{name} {command[i]:+.2f}", (3, top + 12), cv2.FONT_HERSHEY_SIMPLEX, 0.33,
            (220, 220, 220), 1, cv2.LINE_AA,
        )  # fmt: skip
        for value, colour, y0 in ((command[i], POLICY_RGB, 2), (expert[i], EXPERT_RGB, 10)):
            length = int(round(np.clip(value / high[i], -1, 1) * half))
            a, b = sorted((centre, centre + length))
            panel[top + y0 : top + y0 + 6, a : max(b, a + 1)] = colour
        panel[top : top + row - 1, centre] = (120, 120, 120)
    return panel


def flight_video(
    policy: Any,
    env_cfg: DroneConfig,
    path: str | Path,
    *,
    seed: int,
    scale: int = 4,
    max_steps: int | None = None,
) -> dict[str, Any]:
    """Fly one episode with ``policy`` and write an MP4: the camera frame with the
    saliency heat map (``scale`` x upsampled), and the command bars under it.

    Args:
        policy: A ``Policy`` (``reset``, ``act``, ``preprocess``, encoder for saliency).
        env_cfg: The environment's settings.
        path: Output ``.mp4``.
        seed: Scene seed.
        scale: Upsampling of the frame in the video.
        max_steps: Cut the flight after this many steps (``None``: the episode).

    Returns:
        ``{"path", "frames", "outcome"}``.
    """
    from lnn_drive.envs.record import Episode, FunctionRule, record_episodes

    env = make_drone_env(env_cfg, render_mode=None)
    high = env_cfg.action_high
    frames: list[np.ndarray] = []
    commands: list[np.ndarray] = []
    experts: list[np.ndarray] = []
    last: list[Any] = [{}]

    def fly(obs: np.ndarray, info: Any) -> np.ndarray:
        a = np.clip(np.asarray(policy.act(obs), np.float32), -high, high)
        frames.append(obs)
        commands.append(a)
        experts.append(np.asarray(info["expert_action"]))
        return a

    rule = FunctionRule(fly, on_reset=lambda episode: policy.reset(1))
    try:
        flight = Episode(seed=seed, steps=max_steps)
        record_episodes(
            env, None, rule, episodes=[flight], after_step=lambda info: last.__setitem__(0, info)
        )
    finally:
        env.close()
    outcome = last[0].get("outcome")
    stack = np.stack(frames[: len(commands)])
    sal = policy_saliency(policy, stack)
    h, w = stack.shape[1:3]
    with VideoSink(path, fps=env_cfg.fps) as sink:
        for f, s, c, e in zip(stack, sal, commands, experts, strict=True):
            big = cv2.resize(overlay(f, s), (w * scale, h * scale), interpolation=cv2.INTER_NEAREST)
            sink.write(np.vstack([big, command_panel(c, e, high, width=w * scale)]))
    return {"path": str(Path(path).absolute()), "frames": len(commands), "outcome": outcome}


__all__ = ["command_panel", "flight_video"]
