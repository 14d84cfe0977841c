"""Observation perturbations for robustness sweeps.

Two noise scales (``EvalConfig.noise_scales``):

* ``unit``: the NCP paper's convention as this project reads it: frames scaled to [0, 1],
  zero-mean Gaussian noise of the given *variance* added, clipped. The same variance is a
  different signal-to-noise ratio on a low-contrast simulator frame than on a real camera
  frame.
* ``snr``: signal-to-noise matched: the variance is read as a noise-to-signal power ratio,
  so the noise variance is ``variance x Var(frame)`` (each frame's own pixel variance on
  [0, 1]); ``snr`` 0.1 is an SNR of 10 on every frame whatever its contrast.
"""

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


NOISE_SCALES: tuple[str, ...] = ("unit", "snr")

_TWO_PI = np.float32(2.0 * np.pi)


def standard_normal(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """float32 N(0, 1) samples of ``shape`` from ``rng`` by the Box-Muller transform.

    The same distribution as ``rng.standard_normal(shape, dtype=np.float32)`` (a
    different stream of samples), ~2.5x cheaper: numpy's float32 ziggurat is scalar code,
    while this is one uniform draw and four vectorised ufuncs, and frame noise draws one
    sample per pixel and channel, every step of every drive (it was the largest cost of a
    noise condition's closed loop, more than the policy's forward).
    """
    n = int(np.prod(shape))
    half = (n + 1) // 2
    u = rng.random(2 * half, dtype=np.float32)  # [0, 1)
    radius = np.log1p(np.negative(u[:half]), out=u[:half])  # log(1 - u) in (-inf, 0]
    np.sqrt(np.multiply(radius, np.float32(-2.0), out=radius), out=radius)
    angle = np.multiply(u[half:], _TWO_PI, out=u[half:])
    out = np.empty(2 * half, np.float32)
    np.multiply(np.cos(angle), radius, out=out[:half])
    np.multiply(np.sin(angle), radius, out=out[half:])
    return out[:n].reshape(shape)


def add_frame_noise(
    frames: np.ndarray, std: float, rng: np.random.Generator, *, relative: bool = False
) -> np.ndarray:
    """Add N(0, std^2) noise on the [0, 1] scale to uint8 frames.

    Args:
        frames: (H, W, C) frame or (N, H, W, C) frames, uint8 (any shape when not
            ``relative``).
        std: Noise standard deviation on [0, 1] (``unit``), or, with ``relative``, as a
            multiple of each frame's own pixel standard deviation (``snr``: std =
            sqrt(variance ratio)).
        rng: Noise generator (the samples: :func:`standard_normal`).
        relative: Scale the noise by each frame's pixel standard deviation.
    """
    # on the 0-255 scale, in place: the same noise as on [0, 1] (std x 255), without the
    # scaling passes and temporaries, which cost as much as drawing the samples
    x = frames.astype(np.float32)
    scale: np.ndarray | np.float32 = np.float32(std * 255.0)
    if relative:
        if x.ndim not in (3, 4):
            raise ValueError(f"snr noise needs (H, W, C) or (N, H, W, C) frames, got {x.shape}")
        axes = tuple(range(x.ndim - 3, x.ndim))  # per frame
        scale = (x.std(axis=axes, keepdims=True) * np.float32(std)).astype(np.float32)
    z = standard_normal(rng, x.shape)
    z *= scale
    x += z
    np.clip(x, 0.0, 255.0, out=x)
    x += 0.5
    return x.astype(np.uint8)


def check_noise_scale(scale: str, where: str = "noise scale") -> str:
    """``scale`` if it is one of :data:`NOISE_SCALES`, else ``ValueError`` naming ``where``."""
    if scale not in NOISE_SCALES:
        raise ValueError(f"{where} must be one of {', '.join(NOISE_SCALES)}, got {scale!r}")
    return scale
