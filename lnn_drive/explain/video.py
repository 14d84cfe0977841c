"""Saliency videos: a closed-loop run with the VisualBackProp overlay, the steering command
against the expert's, and the controller's neuron activities beside the frame."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import gymnasium as gym
import numpy as np
import torch

from lnn_drive.eval.report import VideoSink, steering_overlay
from lnn_drive.explain.dynamics import ClosedLoopRecord, record_closed_loop
from lnn_drive.explain.plots import overlay
from lnn_drive.explain.saliency import visual_backprop

__all__ = ["policy_saliency", "render_panel", "saliency_video"]

#: BGR-free RGB colours of neuron groups in the video panel.
_GROUP_RGB = {
    "inter": (80, 150, 230),
    "command": (255, 160, 40),
    "motor": (80, 210, 90),
    "units": (180, 130, 220),
}

if TYPE_CHECKING:
    from lnn_drive.models.policy import Policy


def policy_saliency(policy: Policy, frames: np.ndarray, *, batch: int = 32) -> np.ndarray:
    """VisualBackProp of camera frames through a policy's preprocessing and encoder.

    Args:
        policy: A ``Policy``.
        frames: (N, H, W, 3) uint8 camera frames (the preprocessing's input size).
        batch: Frames per VisualBackProp call.

    Returns:
        (N, height, width) float32 maps in [0, 1] at the model geometry.
    """
    geo = policy.preprocess.geometry_batch(frames)  # (N, 3, h, w) uint8
    out = np.empty((len(geo), *geo.shape[2:]), np.float32)
    for i in range(0, len(geo), batch):
        x = torch.from_numpy(geo[i : i + batch])
        out[i : i + batch] = visual_backprop(policy, x).numpy()
    return out


def _bars(
    state: np.ndarray,
    scale: np.ndarray,
    names: list[tuple[str, int]],
    ranks: list[int],
    *,
    height: int,
    width: int,
) -> np.ndarray:
    """One horizontal bar per neuron, signed around a centre line, coloured by group."""
    panel = np.full((height, width, 3), 24, np.uint8)
    n = len(names)
    row = max(3, (height - 20) // max(n, 1))
    cx = width // 2 + 18
    half = width - cx - 6
    cv2.putText(panel, "neurons", (6, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (220, 220, 220), 1)
    cv2.line(panel, (cx, 18), (cx, 18 + row * n), (110, 110, 110), 1)
    for j, ((g, i), r) in enumerate(zip(names, ranks, strict=True)):
        y = 18 + j * row
        v = float(np.clip(state[i] / scale[i], -1, 1)) if scale[i] > 0 else 0.0
        colour = _GROUP_RGB.get(g, (200, 200, 200))
        x1 = int(cx + v * half)
        cv2.rectangle(panel, (min(cx, x1), y + 1), (max(cx, x1), y + row - 2), colour, -1)
        if row >= 8:
            cv2.putText(
                panel,
                f"{g[0].upper()}{r}",
                (4, y + row - 2),
                cv2.FONT_HERSHEY_SIMPLEX,
                min(0.33, row / 30),
                colour,
                1,
            )
    return panel


def _trace(
    record: ClosedLoopRecord,
    t: int,
    *,
    width: int,
    height: int = 70,
    window: int = 150,
    max_curvature: float = 0.1,
) -> np.ndarray:
    """The last ``window`` steps of commanded (blue) and expert (green) curvature."""
    panel = np.full((height, width, 3), 16, np.uint8)
    lo = max(0, t - window + 1)
    seg_c, seg_e = record.steering[lo : t + 1], record.expert[lo : t + 1]
    lim = max(float(np.max(np.abs(record.expert))), float(np.max(np.abs(record.steering))), 1e-6)
    lim = min(lim * 1.1, max_curvature)
    xs = (np.arange(len(seg_c)) * (width - 1) / max(window - 1, 1)).astype(np.int32)
    mid = height // 2
    cv2.line(panel, (0, mid), (width - 1, mid), (70, 70, 70), 1)

    def poly(vals: np.ndarray, colour: tuple[int, int, int]) -> None:
        ys = (mid - np.clip(vals / lim, -1, 1) * (mid - 4)).astype(np.int32)
        pts = np.stack([xs, ys], axis=1).reshape(-1, 1, 2)
        cv2.polylines(panel, [pts], False, colour, 1, cv2.LINE_AA)

    poly(seg_e, (60, 200, 60))
    poly(seg_c, (70, 130, 255))
    cv2.putText(
        panel,
        f"steering, last {window} steps (+-{lim:.3f} 1/m)",
        (4, 12),
        cv2.FONT_HERSHEY_SIMPLEX,
        0.35,
        (200, 200, 200),
        1,
    )
    return panel


def render_panel(
    record: ClosedLoopRecord,
    saliency: np.ndarray,
    model_frames: np.ndarray,
    t: int,
    *,
    scale: int = 3,
    bar_width: int = 220,
) -> np.ndarray:
    """One video frame (RGB): the model's view with the saliency overlay and the steering
    gauge, the neuron bars beside it, a steering trace under both.

    Args:
        record: The closed-loop recording.
        saliency: (T, h, w) maps.
        model_frames: (T, 3, h, w) preprocessed frames (what the model saw).
        t: Step to draw.
    """
    view = overlay(model_frames[t], saliency[t])
    left = steering_overlay(view, float(record.steering[t]), float(record.expert[t]), scale=scale)
    groups = {g: v for g, v in record.groups.items() if v}
    if not groups:
        groups = {"units": list(range(min(record.states.shape[1], 64)))}
    names = [(g, i) for g in ("inter", "command", "motor", "units") for i in groups.get(g, [])]
    ranks = [
        j for g in ("inter", "command", "motor", "units") for j in range(len(groups.get(g, [])))
    ]
    scale_per = np.max(np.abs(record.states), axis=0)  # (n,)
    right = _bars(record.states[t], scale_per, names, ranks, height=left.shape[0], width=bar_width)
    top = np.concatenate([left, right], axis=1)
    bottom = _trace(record, t, width=top.shape[1])
    frame = np.concatenate([top, bottom], axis=0)
    cv2.putText(frame, f"step {t}", (4, 12), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1)
    # mp4v wants even sizes.
    h, w = frame.shape[:2]
    return np.ascontiguousarray(frame[: h - h % 2, : w - w % 2])


def saliency_video(
    policy: Policy,
    env: gym.Env,
    *,
    steps: int,
    seed: int,
    path: str | os.PathLike[str],
    fps: float | None = None,
    record: ClosedLoopRecord | None = None,
) -> Path:
    """Drive ``env`` with ``policy`` and write an MP4 (MPEG-4 part 2, ``mp4v``) of the run:
    the model's view with the VisualBackProp overlay, steering commanded vs the expert's
    (``info["expert_action"]``), and every neuron's activity as a bar.

    The file appears atomically (written under a temporary name, then renamed).

    Args:
        policy: A ``Policy``.
        env: A LaneKeeping gymnasium env.
        steps: Maximum steps (the run stops at episode end).
        seed: Road seed.
        path: Output ``.mp4``.
        fps: Frame rate (default: the env's ``render_fps``, else 30).
        record: A recording to render instead of driving (must hold frames).

    Returns:
        The written path.
    """
    if record is None:
        record = record_closed_loop(policy, env, steps=steps, seed=seed, keep_frames=True)
    if record.frames is None:
        raise ValueError("saliency_video: the recording holds no frames")
    model_frames = policy.preprocess.geometry_batch(record.frames)  # (T, 3, h, w)
    sal = policy_saliency(policy, record.frames)
    fps = fps or float(getattr(env, "metadata", {}).get("render_fps", 30) or 30)
    with VideoSink(path, fps=fps) as sink:
        for t in range(len(record)):
            sink.write(render_panel(record, sal, model_frames, t))
    return Path(path)
