"""``OnnxPolicy``: run an exported policy with onnxruntime, numpy and OpenCV only.

The exported graph is one control step: ``frames`` uint8 (B, 3, h, w) in model geometry
and ``state`` float32 (B, S) in, ``action`` float32 (B, k) in physical units and
``new_state`` (B, S) out; per-image standardisation and output scaling are inside it. The
camera-frame geometry (crop, resize) is declared in the model's metadata and run here with
OpenCV, as ``lnn_drive.data.Preprocess.geometry`` does in the PyTorch path.

This module imports nothing from torch (a test imports it with torch hidden) and nothing
from the rest of ``lnn_drive``, so a device needs only ``requirements-edge.txt`` and this
one file; OpenCV is imported only when a frame has to be resized (camera frames of another
size than the model's), which keeps the resident memory of a process that runs the model
on model-size frames at numpy + onnxruntime.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

#: Metadata keys written by ``lnn_drive.deploy.export``.
META_FORMAT = "lnn_drive.export_format"
META_POLICY = "lnn_drive.policy"
META_STATE = "lnn_drive.state_size"
META_PRECISION = "lnn_drive.precision"
META_CHECKPOINT = "lnn_drive.checkpoint"
#: Bumped when the graph's inputs/outputs or the metadata change incompatibly.
EXPORT_FORMAT = 1

INTERPOLATIONS = ("area", "linear", "nearest")


@dataclass(frozen=True, kw_only=True)
class FrameGeometry:
    """The crop + resize of ``Preprocess`` (same fields, same config dict), without torch.

    Attributes:
        height, width: Model input size.
        crop_top, crop_bottom, crop_left, crop_right: Pixels cut from each side first.
        in_height, in_width: Camera frame size expected (``None``: any).
        interpolation: ``area``, ``linear`` or ``nearest``.
    """

    height: int
    width: int
    crop_top: int = 0
    crop_bottom: int = 0
    crop_left: int = 0
    crop_right: int = 0
    in_height: int | None = None
    in_width: int | None = None
    interpolation: str = "area"

    def __post_init__(self) -> None:
        if min(self.height, self.width) <= 0:
            raise ValueError(f"geometry: model size {self.height}x{self.width} must be positive")
        if min(self.crop_top, self.crop_bottom, self.crop_left, self.crop_right) < 0:
            raise ValueError("geometry: crops must be >= 0")
        if self.interpolation not in INTERPOLATIONS:
            raise ValueError(f"geometry: unknown interpolation {self.interpolation!r}")

    @classmethod
    def from_config(cls, d: Mapping[str, Any]) -> FrameGeometry:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    @property
    def output_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of a frame in model geometry."""
        return (3, self.height, self.width)

    def check_frame(self, frame: np.ndarray, *, what: str = "frame") -> None:
        """Raise ``ValueError`` unless ``frame`` is uint8 RGB (H, W, 3) of the expected size."""
        ok = isinstance(frame, np.ndarray) and frame.dtype == np.uint8 and frame.ndim == 3
        if not ok or frame.shape[2] != 3:
            got = f"{frame.dtype} {frame.shape}" if isinstance(frame, np.ndarray) else type(frame)
            raise ValueError(f"{what}: expected uint8 RGB of shape (H, W, 3), got {got}")
        want = (self.in_height or frame.shape[0], self.in_width or frame.shape[1])
        if frame.shape[:2] != want:
            raise ValueError(
                f"{what}: size {frame.shape[0]}x{frame.shape[1]} != the {want[0]}x{want[1]} "
                "this model expects"
            )

    def geometry(self, frame: np.ndarray) -> np.ndarray:
        """(H, W, 3) uint8 camera frame -> (3, height, width) uint8."""
        self.check_frame(frame)
        h, w = frame.shape[:2]
        bottom, right = h - self.crop_bottom, w - self.crop_right
        if bottom <= self.crop_top or right <= self.crop_left:
            raise ValueError(f"geometry: the crop leaves nothing of a {h}x{w} frame")
        img = frame[self.crop_top : bottom, self.crop_left : right]
        if img.shape[:2] != (self.height, self.width):
            import cv2

            flag = {"area": cv2.INTER_AREA, "linear": cv2.INTER_LINEAR}.get(
                self.interpolation, cv2.INTER_NEAREST
            )
            img = cv2.resize(img, (self.width, self.height), interpolation=flag)
        return np.ascontiguousarray(img.transpose(2, 0, 1))  # (3, h, w)


def read_metadata(path: str | os.PathLike) -> dict[str, str]:
    """The custom metadata of an ONNX file (``lnn_drive.*`` keys), via onnxruntime."""
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return dict(sess.get_modelmeta().custom_metadata_map)


class OnnxPolicy:
    """An exported policy with the closed-loop API of ``lnn_drive.models.Policy``.

    Args:
        path: ``.onnx`` file written by ``lnn_drive.deploy.export`` (fp32 or int8).
        threads: onnxruntime intra-op threads (1: what a small device core gives).

    Raises:
        FileNotFoundError: no such file.
        ValueError: not an ONNX file, or not one exported by lnn_drive (names the file).
    """

    def __init__(self, path: str | os.PathLike, *, threads: int = 1) -> None:
        import onnxruntime as ort

        p = Path(path)
        if not p.is_file():
            raise FileNotFoundError(f"ONNX model not found: {p}")
        if int(threads) < 1:
            raise ValueError(f"OnnxPolicy: threads must be >= 1, got {threads}")
        so = ort.SessionOptions()
        so.intra_op_num_threads = int(threads)
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # The activations of one step are a few hundred kB: no arena, no memory-pattern
        # planning (each would hold memory for the process's life for no measurable speed).
        so.enable_cpu_mem_arena = False
        try:
            self.session = ort.InferenceSession(str(p), so, providers=["CPUExecutionProvider"])
        except Exception as e:  # onnxruntime raises its own exception types
            raise ValueError(f"{p}: not a loadable ONNX model ({type(e).__name__}: {e})") from e
        meta = dict(self.session.get_modelmeta().custom_metadata_map)
        if META_POLICY not in meta or META_FORMAT not in meta:
            raise ValueError(f"{p}: not an lnn_drive export (no {META_POLICY!r} metadata)")
        if int(meta[META_FORMAT]) != EXPORT_FORMAT:
            raise ValueError(
                f"{p}: export format {meta[META_FORMAT]} but this runtime reads {EXPORT_FORMAT}"
            )
        self.path = p
        self.metadata = meta
        self.policy_config: dict[str, Any] = json.loads(meta[META_POLICY])
        self.model_name = str(self.policy_config.get("model", {}).get("name", "policy"))
        self.preprocess = FrameGeometry.from_config(self.policy_config["preprocess"])
        self.output_names = list(self.policy_config["output_names"])
        self.units = dict(self.policy_config.get("units", {}))
        self.state_size = int(meta[META_STATE])
        self.precision = meta.get(META_PRECISION, "fp32")
        self._hx: np.ndarray | None = None

    def reset(self, batch_size: int = 1) -> None:
        """Zero the recurrent state for ``batch_size`` parallel episodes."""
        if int(batch_size) < 1:
            raise ValueError(f"OnnxPolicy.reset: batch_size must be >= 1, got {batch_size}")
        self._hx = np.zeros((int(batch_size), self.state_size), np.float32)

    def reset_rows(self, mask: np.ndarray) -> None:
        """Zero the state of rows whose episode ended. mask: (B,) bool."""
        m = np.asarray(mask)
        if self._hx is None:
            self.reset(len(m))
            return
        if m.dtype != np.bool_ or m.shape != (self._hx.shape[0],):
            raise ValueError(
                f"OnnxPolicy.reset_rows: expected a bool mask of shape ({self._hx.shape[0]},), "
                f"got {m.dtype} {m.shape}"
            )
        self._hx[m] = 0.0

    def step(self, frames_chw: np.ndarray) -> np.ndarray:
        """Frames already in model geometry, uint8 (B, 3, h, w) -> (B, k), carrying the state."""
        b = frames_chw.shape[0]
        if self._hx is None:
            self.reset(b)
        elif self._hx.shape[0] != b:
            raise ValueError(
                f"OnnxPolicy: the state holds {self._hx.shape[0]} episodes, got {b} frames; "
                f"call reset(batch_size={b})"
            )
        feeds = {"frames": np.ascontiguousarray(frames_chw, np.uint8), "state": self._hx}
        action, self._hx = self.session.run(None, feeds)
        return action

    def act_batch(self, frames: np.ndarray) -> np.ndarray:
        """One closed-loop step for B episodes: uint8 (B, H_in, W_in, 3) -> (B, k) float32."""
        if not isinstance(frames, np.ndarray) or frames.dtype != np.uint8 or frames.ndim != 4:
            got = f"{frames.dtype} {frames.shape}" if isinstance(frames, np.ndarray) else frames
            raise ValueError(f"OnnxPolicy.act_batch: expected uint8 frames (B, H, W, 3), got {got}")
        x = np.empty((len(frames), *self.preprocess.output_shape), np.uint8)  # (B, 3, h, w)
        for i, f in enumerate(frames):
            x[i] = self.preprocess.geometry(f)
        return self.step(x)

    def act(self, frame: np.ndarray) -> np.ndarray:
        """One closed-loop step: uint8 (H_in, W_in, 3) camera frame -> (k,) action."""
        self.preprocess.check_frame(frame, what="OnnxPolicy.act: frame")
        if self._hx is not None and self._hx.shape[0] != 1:
            raise ValueError(
                f"OnnxPolicy.act: the state holds {self._hx.shape[0]} episodes; use act_batch or reset(1)"
            )
        return self.act_batch(frame[None])[0]

    def neuron_state(self) -> np.ndarray:
        """Current controller state (B, state_size)."""
        if self._hx is None:
            return np.zeros((1, self.state_size), np.float32)
        return self._hx.copy()
