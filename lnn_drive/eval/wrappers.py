"""Observation perturbations for robustness sweeps."""

from __future__ import annotations

import gymnasium as gym
import numpy as np


class FrameNoise(gym.ObservationWrapper):
    """Zero-mean Gaussian noise on camera frames, the NCP paper's protocol: the frame is
    scaled to [0, 1], noise of the given *variance* is added, and the result is clipped
    and scaled back to uint8.

    The noise generator is seeded once from ``seed`` (and re-seeded from it plus the
    episode's seed at each reset), so a sweep is repeatable.

    Args:
        env: Environment with uint8 image observations.
        variance: Noise variance on the [0, 1] scale (the paper uses 0.1, 0.2, 0.3).
        seed: Noise seed.
    """

    def __init__(self, env: gym.Env, *, variance: float, seed: int = 0) -> None:
        super().__init__(env)
        if not variance >= 0:
            raise ValueError(f"noise variance must be >= 0, got {variance}")
        self.variance = float(variance)
        self.std = float(np.sqrt(variance))
        self._seed = int(seed)
        self._rng = np.random.default_rng(self._seed)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        self._rng = np.random.default_rng([self._seed, 0 if seed is None else int(seed)])
        return super().reset(seed=seed, options=options)

    def observation(self, observation: np.ndarray) -> np.ndarray:
        if self.std == 0:
            return observation
        return add_frame_noise(observation, self.std, self._rng)


def add_frame_noise(frames: np.ndarray, std: float, rng: np.random.Generator) -> np.ndarray:
    """Add N(0, std^2) noise on the [0, 1] scale to uint8 frames of any shape."""
    x = frames.astype(np.float32) / 255.0
    x += rng.standard_normal(x.shape, dtype=np.float32) * np.float32(std)
    return (np.clip(x, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
