"""Training-only augmentation on uint8 windows, vectorised per window.

All frames of a window share one draw of brightness/contrast, shadow and shift (a
window is 16 consecutive frames of one drive; the same camera glitch persists), while
Gaussian noise is independent per pixel and frame. Everything stays uint8: photometric
changes are 256-entry lookup tables and the noise is saturating uint8 arithmetic from
pre-drawn noise banks, which is what makes the pipeline deliver >5k frames/s per core.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import cv2
import numpy as np


@dataclass(frozen=True, kw_only=True)
class AugmentConfig:
    """Augmentation strengths and probabilities (per window).

    Attributes:
        enabled: Master switch.
        brightness: Max |offset| added to pixel levels (0..255 scale).
        contrast: Contrast factor drawn from [1 - contrast, 1 + contrast].
        shadow_prob: Probability of a random quadrilateral shadow across the image.
        shadow_darkness: (min, max) multiplicative darkening inside the shadow.
        noise_prob: Probability of additive Gaussian noise.
        noise_std: Max noise standard deviation in pixel levels (drawn from 4 levels up to it).
        shift_prob: Probability of a horizontal shift.
        shift_max_px: Max |shift| in pixels of the model input.
        shift_target: Target corrected by the shift (``None`` disables the correction).
        shift_correction_per_px: Added to ``shift_target`` per pixel of shift. With the
            content moved right by ``dx`` px the car looks as if it were yawed left of the
            road, so the label steers right: ``target -= dx * shift_correction_per_px``.
    """

    enabled: bool = True
    brightness: float = 30.0
    contrast: float = 0.3
    shadow_prob: float = 0.5
    shadow_darkness: tuple[float, float] = (0.45, 0.8)
    noise_prob: float = 0.5
    noise_std: float = 8.0
    shift_prob: float = 0.5
    shift_max_px: int = 16
    shift_target: str | None = "steering"
    shift_correction_per_px: float = 0.0005

    def __post_init__(self) -> None:
        def check(cond: bool, name: str, msg: str) -> None:
            if not cond:
                raise ValueError(f"augment.{name}: {msg}, got {getattr(self, name)!r}")

        check(self.brightness >= 0, "brightness", "must be >= 0")
        check(0 <= self.contrast < 1, "contrast", "must be in [0, 1)")
        for p in ("shadow_prob", "noise_prob", "shift_prob"):
            check(0 <= getattr(self, p) <= 1, p, "must be a probability")
        lo, hi = self.shadow_darkness
        check(0 <= lo <= hi <= 1, "shadow_darkness", "must be (min, max) within [0, 1]")
        check(self.noise_std >= 0, "noise_std", "must be >= 0")
        check(self.shift_max_px >= 0, "shift_max_px", "must be >= 0")

    @classmethod
    def from_config(cls, d: Any) -> AugmentConfig:
        d = dict(d)
        if "shadow_darkness" in d:
            d["shadow_darkness"] = tuple(d["shadow_darkness"])
        return cls(**d)

    def to_config(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class WindowAugmentation:
    """The draws for one batch of B windows.

    Attributes:
        shift: (B,) int horizontal shift in pixels (content moves right for > 0).
        lut: (B, 256) uint8 brightness/contrast lookup table.
        shadow: list of B (H, W) bool masks or ``None``.
        shadow_lut: (B, 256) uint8 table applied inside the shadow.
        noise_level: (B,) int index into the noise banks, -1 for none.
        noise_offset: (B,) int offset into the bank.
    """

    shift: np.ndarray
    lut: np.ndarray
    shadow: list[np.ndarray | None]
    shadow_lut: np.ndarray
    noise_level: np.ndarray
    noise_offset: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))


class Augment:
    """Draws and applies augmentation to batches of uint8 windows (B, T, 3, H, W).

    Args:
        cfg: Strengths and probabilities.
        window_shape: (T, 3, H, W) of one window.
        target_names: Names of the target columns, to find ``cfg.shift_target``.
        seed: Seed of the noise banks (the per-batch draws take their own generator).
    """

    NOISE_LEVELS = 4

    def __init__(
        self,
        cfg: AugmentConfig,
        *,
        window_shape: tuple[int, int, int, int],
        target_names: list[str],
        seed: int,
    ) -> None:
        self.cfg = cfg
        self.window_shape = tuple(window_shape)
        self.shift_col = (
            target_names.index(cfg.shift_target) if cfg.shift_target in target_names else None
        )
        if cfg.shift_target is not None and self.shift_col is None and cfg.shift_prob > 0:
            raise ValueError(
                f"augment.shift_target={cfg.shift_target!r} is not among the targets {target_names}; "
                "set augment.shift_target=null or augment.shift_prob=0"
            )
        self._seed = seed
        self._banks: list[tuple[np.ndarray, np.ndarray]] | None = None

    def _noise_banks(self) -> list[tuple[np.ndarray, np.ndarray]]:
        # Banks are 2 windows long; a window takes a random slice, so the noise a window
        # sees is a fresh-looking Gaussian field for the cost of one saturating add.
        if self._banks is None:
            n = int(np.prod(self.window_shape))
            rng = np.random.default_rng(self._seed)
            base = rng.standard_normal(2 * n, dtype=np.float32)
            self._banks = []
            for level in range(1, self.NOISE_LEVELS + 1):
                std = self.cfg.noise_std * level / self.NOISE_LEVELS
                q = np.rint(base * std)
                self._banks.append(
                    (np.clip(q, 0, 255).astype(np.uint8), np.clip(-q, 0, 255).astype(np.uint8))
                )
        return self._banks

    def draw(self, rng: np.random.Generator, batch: int) -> WindowAugmentation:
        """Draw augmentation parameters for ``batch`` windows."""
        c = self.cfg
        _, _, h, w = self.window_shape
        shift = np.where(
            rng.random(batch) < c.shift_prob,
            rng.integers(-c.shift_max_px, c.shift_max_px + 1, batch),
            0,
        )
        if self.shift_col is None:
            shift[:] = 0
        gain = rng.uniform(1 - c.contrast, 1 + c.contrast, batch)
        offset = rng.uniform(-c.brightness, c.brightness, batch)
        levels = np.arange(256, dtype=np.float64)
        lut_f = (levels[None, :] - 128.0) * gain[:, None] + 128.0 + offset[:, None]  # (B, 256)
        lut = np.clip(np.rint(lut_f), 0, 255).astype(np.uint8)
        dark = rng.uniform(*c.shadow_darkness, batch)
        shadow_lut = np.clip(np.rint(lut_f * dark[:, None]), 0, 255).astype(np.uint8)
        shadows: list[np.ndarray | None] = []
        for use in rng.random(batch) < c.shadow_prob:
            if not use:
                shadows.append(None)
                continue
            # A band from the top edge to the bottom edge, as a tree or building casts.
            x_top = np.sort(rng.uniform(-0.2 * w, 1.2 * w, 2))
            x_bot = np.sort(rng.uniform(-0.2 * w, 1.2 * w, 2))
            poly = np.array(
                [[x_top[0], 0], [x_top[1], 0], [x_bot[1], h - 1], [x_bot[0], h - 1]], np.int32
            )
            mask = np.zeros((h, w), np.uint8)
            cv2.fillPoly(mask, [poly], 1)
            shadows.append(mask.astype(bool))
        noise_level = np.where(
            rng.random(batch) < c.noise_prob, rng.integers(0, self.NOISE_LEVELS, batch), -1
        )
        if c.noise_std == 0:
            noise_level[:] = -1
        n = int(np.prod(self.window_shape))
        noise_offset = rng.integers(0, n, batch)
        return WindowAugmentation(
            shift=shift.astype(np.int64),
            lut=lut,
            shadow=shadows,
            shadow_lut=shadow_lut,
            noise_level=noise_level,
            noise_offset=noise_offset,
        )

    def correct_targets(self, targets: np.ndarray, aug: WindowAugmentation) -> None:
        """Apply the steering correction for the shift, in place. targets: (B, T, k)."""
        if self.shift_col is not None:
            targets[:, :, self.shift_col] -= (
                aug.shift[:, None].astype(targets.dtype) * self.cfg.shift_correction_per_px
            )

    def photometric(self, frames: np.ndarray, aug: WindowAugmentation) -> None:
        """Brightness/contrast, shadow and noise, in place. frames: (B, T, 3, H, W) uint8."""
        b, t, ch, h, w = frames.shape
        banks = self._noise_banks() if (aug.noise_level >= 0).any() else None
        n = t * ch * h * w
        for i in range(b):
            v = frames[i].reshape(t * ch * h, w)  # (T*3*H, W) view for cv2
            if aug.shadow[i] is not None:
                dark = cv2.LUT(v, aug.shadow_lut[i])
                cv2.LUT(v, aug.lut[i], dst=v)
                np.copyto(frames[i], dark.reshape(t, ch, h, w), where=aug.shadow[i][None, None])
            else:
                cv2.LUT(v, aug.lut[i], dst=v)
            lvl = aug.noise_level[i]
            if banks is not None and lvl >= 0:
                pos, neg = banks[lvl]
                o = aug.noise_offset[i]
                cv2.add(v, pos[o : o + n].reshape(t * ch * h, w), dst=v)
                cv2.subtract(v, neg[o : o + n].reshape(t * ch * h, w), dst=v)


def gather_windows(
    frames: np.ndarray, starts: np.ndarray, length: int, shift: np.ndarray | None = None
) -> np.ndarray:
    """Copy windows out of a (N, 3, H, W) frame array, shifting each horizontally.

    Shifted-in columns repeat the edge column.

    Args:
        frames: (N, 3, H, W) uint8, typically a memory map.
        starts: (B,) first frame of each window.
        length: T, frames per window.
        shift: (B,) pixels; > 0 moves the content right.

    Returns:
        (B, T, 3, H, W) uint8.
    """
    b = len(starts)
    _, ch, h, w = frames.shape
    out = np.empty((b, length, ch, h, w), np.uint8)
    for i, s in enumerate(starts):
        src = frames[s : s + length]  # (T, 3, H, W)
        dx = 0 if shift is None else int(shift[i])
        if dx == 0:
            out[i] = src
        elif dx > 0:
            dx = min(dx, w - 1)
            out[i, ..., dx:] = src[..., : w - dx]
            out[i, ..., :dx] = src[..., :1]
        else:
            dx = min(-dx, w - 1)
            out[i, ..., : w - dx] = src[..., dx:]
            out[i, ..., w - dx :] = src[..., w - 1 :]
    return out
