"""``OnnxPolicy``: run an exported policy with onnxruntime, numpy and OpenCV only.

The exported graph is one control step: ``frames`` uint8 (B, h, w, 3) in model geometry
(channel-last, as a camera delivers them) and ``state`` float32 (B, S) in, ``action`` float32 (B, k) in physical units and
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

#: Metadata keys written by ``lnn_drive.deploy.export``.
META_FORMAT = "lnn_drive.export_format"
META_POLICY = "lnn_drive.policy"
META_STATE = "lnn_drive.state_size"
META_PRECISION = "lnn_drive.precision"
META_CHECKPOINT = "lnn_drive.checkpoint"
#: Bumped when the graph's inputs/outputs or the metadata change incompatibly (2: frames
#: channel-last, (B, h, w, 3)).
EXPORT_FORMAT = 2

INTERPOLATIONS = ("area", "linear", "nearest")


@dataclass(frozen=True, kw_only=True)
class FrameGeometry:
    """The crop + resize of ``lnn_drive.data.Preprocess``, without torch, built from the
    ``Preprocess.to_config()`` dict stored in the model's metadata.

    Attributes:
        size: Model input (height, width).
        crop: Pixels cut from the (top, bottom, left, right) of a camera frame first.
        camera: Camera frame (height, width) expected, ``None``: any.
        interpolation: ``area``, ``linear`` or ``nearest``.
    """

    size: tuple[int, int]
    crop: tuple[int, int, int, int] = (0, 0, 0, 0)
    camera: tuple[int, int] | None = None
    interpolation: str = "area"

    def __post_init__(self) -> None:
        if min(self.size) <= 0 or min(self.crop) < 0:
            raise ValueError(f"geometry: bad size {self.size} or crop {self.crop}")
        if self.interpolation not in INTERPOLATIONS:
            raise ValueError(f"geometry: unknown interpolation {self.interpolation!r}")

    @classmethod
    def from_config(cls, d: Mapping[str, Any]) -> FrameGeometry:
        """From a ``Preprocess.to_config()`` dict."""
        crop = tuple(int(d.get(f"crop_{k}", 0)) for k in ("top", "bottom", "left", "right"))
        cam = (d.get("in_height"), d.get("in_width"))
        return cls(
            size=(int(d["height"]), int(d["width"])),
            crop=crop,  # type: ignore[arg-type]
            camera=None if None in cam else (int(cam[0]), int(cam[1])),
            interpolation=str(d.get("interpolation", "area")),
        )

    @property
    def in_height(self) -> int | None:
        return None if self.camera is None else self.camera[0]

    @property
    def in_width(self) -> int | None:
        return None if self.camera is None else self.camera[1]

    @property
    def output_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of a frame in model geometry (as ``Preprocess.output_shape``)."""
        return (3, *self.size)

    @property
    def graph_shape(self) -> tuple[int, int, int]:
        """(H, W, C) of a frame as the exported graph takes it."""
        return (*self.size, 3)

    def check_frame(self, frame: np.ndarray, *, what: str = "frame") -> None:
        """Raise ``ValueError`` unless ``frame`` is uint8 RGB (H, W, 3) of the expected size."""
        ok = isinstance(frame, np.ndarray) and frame.dtype == np.uint8 and frame.ndim == 3
        if not ok or frame.shape[2] != 3:
            got = f"{frame.dtype} {frame.shape}" if isinstance(frame, np.ndarray) else type(frame)
            raise ValueError(f"{what}: expected uint8 RGB of shape (H, W, 3), got {got}")
        want = self.camera or frame.shape[:2]
        if frame.shape[:2] != tuple(want):
            raise ValueError(
                f"{what}: size {frame.shape[0]}x{frame.shape[1]} != the {want[0]}x{want[1]} "
                "this model expects"
            )

    def geometry(self, frame: np.ndarray) -> np.ndarray:
        """(H, W, 3) uint8 camera frame -> (3, height, width) uint8 (``Preprocess.geometry``)."""
        return np.ascontiguousarray(self.model_frame(frame).transpose(2, 0, 1))  # (3, h, w)

    def model_frame(self, frame: np.ndarray, *, what: str = "frame") -> np.ndarray:
        """(H, W, 3) uint8 camera frame -> (height, width, 3) uint8, the graph's layout:
        ``frame`` itself when it is already contiguous, uncropped and of model size."""
        self.check_frame(frame, what=what)
        h, w = frame.shape[:2]
        top, bottom, left, right = self.crop
        if h - bottom <= top or w - right <= left:
            raise ValueError(f"geometry: the crop {self.crop} leaves nothing of a {h}x{w} frame")
        img = frame[top : h - bottom, left : w - right]
        if img.shape[:2] != self.size:
            import cv2

            flag = {"area": cv2.INTER_AREA, "linear": cv2.INTER_LINEAR}.get(
                self.interpolation, cv2.INTER_NEAREST
            )
            img = cv2.resize(img, self.size[::-1], interpolation=flag)
        return np.ascontiguousarray(img)  # (h, w, 3)


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
        # With threads > 1, idle workers sleep instead of spin-waiting between steps: on a
        # device the camera and the control loop need those cores.
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
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
        self._outputs = [o.name for o in self.session.get_outputs()]  # action, new_state
        self._run = self.session.run

    def reset(self, batch_size: int = 1) -> None:
        """Zero the recurrent state for ``batch_size`` parallel episodes."""
        if int(batch_size) < 1:
            raise ValueError(f"OnnxPolicy.reset: batch_size must be >= 1, got {batch_size}")
        self._hx = np.zeros((int(batch_size), self.state_size), np.float32)

    def _state_for(self, b: int, what: str) -> np.ndarray:
        """The state for a batch of ``b`` (zeros on first use), or a ``ValueError``."""
        if self._hx is None:
            self.reset(b)
        assert self._hx is not None
        if len(self._hx) != b:
            hint = "use act_batch or reset(1)" if what == "act" else f"call reset(batch_size={b})"
            raise ValueError(f"OnnxPolicy.{what}: the state holds {len(self._hx)} episodes; {hint}")
        return self._hx

    def reset_rows(self, mask: np.ndarray) -> None:
        """Zero the state of rows whose episode ended. mask: (B,) bool."""
        m = np.asarray(mask)
        hx = self._state_for(len(m), "reset_rows")
        if m.dtype != np.bool_ or m.ndim != 1:
            raise ValueError(
                f"OnnxPolicy.reset_rows: expected a (B,) bool mask, got {m.dtype} {m.shape}"
            )
        hx[m] = 0.0

    def step(self, frames: np.ndarray) -> np.ndarray:
        """Frames already in model geometry, uint8 (B, h, w, 3) (the graph's layout, see
        ``preprocess.graph_shape``) -> actions (B, k), carrying the state.

        The hot path: no copy of the frames, one ``session.run``.
        """
        if frames.dtype != np.uint8 or frames.shape[1:] != self.preprocess.graph_shape:
            raise ValueError(
                f"OnnxPolicy.step: expected uint8 frames (B, {', '.join(map(str, self.preprocess.graph_shape))}), "
                f"got {frames.dtype} {frames.shape}"
            )
        hx = self._state_for(len(frames), "act_batch")
        action, self._hx = self._run(self._outputs, {"frames": frames, "state": hx})
        return action

    def act_batch(self, frames: np.ndarray) -> np.ndarray:
        """One closed-loop step for B episodes: uint8 (B, H_in, W_in, 3) -> (B, k) float32."""
        if not isinstance(frames, np.ndarray) or frames.dtype != np.uint8 or frames.ndim != 4:
            got = f"{frames.dtype} {frames.shape}" if isinstance(frames, np.ndarray) else frames
            raise ValueError(f"OnnxPolicy.act_batch: expected uint8 frames (B, H, W, 3), got {got}")
        geo = self.preprocess
        if frames.shape[1:] == geo.graph_shape and geo.crop == (0, 0, 0, 0):
            return self.step(np.ascontiguousarray(frames))  # model-size frames: as they are
        return self.step(np.stack([geo.model_frame(f) for f in frames]))  # (B, h, w, 3)

    def act(self, frame: np.ndarray) -> np.ndarray:
        """One closed-loop step: uint8 (H_in, W_in, 3) camera frame -> (k,) action."""
        x = self.preprocess.model_frame(frame, what="OnnxPolicy.act: frame")  # (h, w, 3)
        self._state_for(1, "act")
        return self.step(x[None])[0]

    def neuron_state(self) -> np.ndarray:
        """A copy of the controller state (B, state_size); zeros (1, S) before the first step."""
        hx = self._hx if self._hx is not None else np.zeros((1, self.state_size), np.float32)
        return hx.copy()
