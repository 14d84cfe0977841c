"""Figures for the HTML reports that need a policy and an environment."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from lnn_drive.explain.plots import saliency_grid
from lnn_drive.explain.video import policy_saliency


def saliency_grid_along_drive(
    policy: Any, env_cfg: Any, path: str | Path, *, seed: int, n: int = 5, every: int = 30
) -> Path:
    """VisualBackProp of ``n`` camera frames, ``every`` steps apart, along the privileged
    expert's drive on road ``seed`` (so the frames do not depend on the policy's skill).

    Args:
        policy: A ``Policy``.
        env_cfg: The car's ``EnvConfig`` (or a mapping of its fields).
        path: Output PNG.
    """
    from lnn_drive.envs import make_env
    from lnn_drive.envs.record import Episode, FunctionRule, record_episodes

    frames: list[np.ndarray] = []
    steps: list[int] = []
    clock = [0]  # the step the expert is deciding

    def expert(obs: np.ndarray, info: Any) -> np.ndarray:
        t = clock[0]
        if t % every == 0:
            frames.append(obs)
            steps.append(t)
        clock[0] = t + 1
        return np.array([info["expert_action"]], np.float32)

    env = make_env(env_cfg, crash_mode="intervene")
    try:
        drive = Episode(seed=seed, steps=n * every)
        record_episodes(env, None, FunctionRule(expert), episodes=[drive])
    finally:
        env.close()
    stack = np.stack(frames)  # (n, H, W, 3)
    return saliency_grid(
        stack,
        {policy.model_name: policy_saliency(policy, stack)},
        path,
        col_titles=[f"step {t}" for t in steps],
    )
