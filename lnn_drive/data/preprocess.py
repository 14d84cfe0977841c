"""The one preprocessing object shared by training and closed loop.

Geometry (crop, resize, HWC->CHW) runs once per frame on uint8 data: when the training
cache is built, and in ``Policy.act`` in closed loop. Per-image standardisation runs in
torch inside the model's forward, on the batch, so it is the same code in both paths.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import cv2
import numpy as np
import torch

_INTERP = {"area": cv2.INTER_AREA, "linear": cv2.INTER_LINEAR, "nearest": cv2.INTER_NEAREST}


@dataclass(frozen=True, kw_only=True)
class Preprocess:
    """Crop, resize and standardise camera frames.

    Attributes:
        height, width: Model input size (the NCP paper: 78x200).
        crop_top, crop_bottom, crop_left, crop_right: Pixels removed from each side of the
            camera frame before resizing.
        in_height, in_width: Camera frame size this preprocessing expects (``None``: any);
            a mismatch is an error rather than a silent rescale.
        interpolation: ``area``, ``linear`` or ``nearest``.
    """

    height: int = 78
    width: int = 200
    crop_top: int = 0
    crop_bottom: int = 0
    crop_left: int = 0
    crop_right: int = 0
    in_height: int | None = None
    in_width: int | None = None
    interpolation: str = "area"

    def __post_init__(self) -> None:
        for name in ("height", "width"):
            if int(getattr(self, name)) <= 0:
                raise ValueError(f"Preprocess.{name} must be positive, got {getattr(self, name)}")
        for name in ("crop_top", "crop_bottom", "crop_left", "crop_right"):
            if int(getattr(self, name)) < 0:
                raise ValueError(f"Preprocess.{name} must be >= 0, got {getattr(self, name)}")
        if self.interpolation not in _INTERP:
            raise ValueError(
                f"Preprocess.interpolation must be one of {sorted(_INTERP)}, got {self.interpolation!r}"
            )
        if self.in_height is not None and self.in_width is not None:
            self._cropped_size(self.in_height, self.in_width)

    @property
    def output_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of a preprocessed frame."""
        return (3, self.height, self.width)

    def to_config(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_config(cls, d: dict[str, Any]) -> Preprocess:
        return cls(**d)

    def with_input(self, height: int, width: int) -> Preprocess:
        """A copy bound to a camera size (validates that the crop fits)."""
        d = self.to_config()
        d.update(in_height=int(height), in_width=int(width))
        return Preprocess(**d)

    def _cropped_size(self, h: int, w: int) -> tuple[int, int]:
        ch = h - self.crop_top - self.crop_bottom
        cw = w - self.crop_left - self.crop_right
        if ch <= 0 or cw <= 0:
            raise ValueError(
                f"crop (top={self.crop_top}, bottom={self.crop_bottom}, left={self.crop_left}, "
                f"right={self.crop_right}) leaves nothing of a {h}x{w} frame"
            )
        return ch, cw

    def check_frame(self, frame: np.ndarray, *, what: str = "frame") -> None:
        """Raise ``ValueError`` unless ``frame`` is a uint8 RGB (H, W, 3) array of the expected size."""
        if not isinstance(frame, np.ndarray):
            raise ValueError(
                f"{what}: expected a numpy uint8 array (H, W, 3), got {type(frame).__name__}"
            )
        if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
            raise ValueError(
                f"{what}: expected uint8 RGB of shape (H, W, 3), got {frame.dtype} {frame.shape}"
            )
        if self.in_height is not None and frame.shape[0] != self.in_height:
            raise ValueError(
                f"{what}: height {frame.shape[0]} != the {self.in_height} this preprocessing expects"
            )
        if self.in_width is not None and frame.shape[1] != self.in_width:
            raise ValueError(
                f"{what}: width {frame.shape[1]} != the {self.in_width} this preprocessing expects"
            )

    def geometry(self, frame: np.ndarray) -> np.ndarray:
        """Crop and resize one RGB frame: (H, W, 3) uint8 -> (3, height, width) uint8."""
        self.check_frame(frame)
        h, w = frame.shape[:2]
        ch, cw = self._cropped_size(h, w)
        crop = frame[self.crop_top : self.crop_top + ch, self.crop_left : self.crop_left + cw]
        if (ch, cw) != (self.height, self.width):
            crop = cv2.resize(
                crop, (self.width, self.height), interpolation=_INTERP[self.interpolation]
            )
        return np.ascontiguousarray(crop.transpose(2, 0, 1))  # (3, h, w)

    def geometry_batch(self, frames: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """(N, H, W, 3) uint8 -> (N, 3, height, width) uint8, optionally into ``out``."""
        if out is None:
            out = np.empty((len(frames), *self.output_shape), np.uint8)
        for i, f in enumerate(frames):
            out[i] = self.geometry(f)
        return out

    @staticmethod
    def standardise(x: torch.Tensor) -> torch.Tensor:
        """Per-image standardisation (as ``tf.image.per_image_standardization``, used by
        the NCP paper): each (C, H, W) image to zero mean and unit variance.

        Args:
            x: (..., C, H, W), uint8 or float.

        Returns:
            float32 tensor of the same shape.
        """
        fresh = x.dtype == torch.uint8  # then .float() is a new tensor we may overwrite
        x = x.float()
        n = x.shape[-3] * x.shape[-2] * x.shape[-1]
        dims = (-3, -2, -1)
        mean = x.mean(dim=dims, keepdim=True)
        d = x.sub_(mean) if fresh else x - mean
        # two-pass variance, in place where possible: torch's ``std``/``var`` reduction and
        # fresh multi-megabyte temporaries were the largest single cost of a batched
        # closed-loop step on CPU (docs/benchmarks.md, "closed-loop evaluation")
        std = d.square().mean(dim=dims, keepdim=True).sqrt().clamp_min(1.0 / n**0.5)
        return d.div_(std) if fresh else d / std
