"""Export a trained ``Policy`` to ONNX (fp32, and static int8 calibrated on a driving log).

The graph is one control step with the recurrent state explicit, so any runtime can carry
it: inputs ``frames`` uint8 (B, h, w, 3) in model geometry (a camera's own channel-last
layout, so a frame goes in without a copy) and ``state`` float32 (B, S); outputs
``action`` float32 (B, k) in physical units and ``new_state`` (B, S); the batch is
dynamic. Per-image standardisation and output scaling are inside the graph (the
computation of ``Policy.forward``, written with the operators ONNX Runtime runs fastest:
:class:`StepGraph`); the crop/resize geometry and the whole checkpoint config are in the
metadata (``lnn_drive.deploy.runtime`` keys).

The exporter is torch's ``torch.export``-based one (``torch.onnx.export(dynamo=True)``,
onnxscript): with torch 2.14 it exports every controller, including NCP-LTC with its ODE
unfolds, and CT-RNN's Python loop, which it unrolls.
"""

from __future__ import annotations

import io
import json
import logging
import os
import tempfile
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from lnn_drive import PROJECT_ROOT
from lnn_drive.deploy.runtime import (
    EXPORT_FORMAT,
    META_CHECKPOINT,
    META_FORMAT,
    META_POLICY,
    META_PRECISION,
    META_STATE,
    OnnxPolicy,
)
from lnn_drive.models.encoders import ConvHead
from lnn_drive.models.policy import Policy, _plain

#: Checkpoint entries embedded as metadata (the optimiser state and weights are not).
CHECKPOINT_KEYS = ("train_state", "data", "train_cfg", "versions")


def _need_onnx() -> None:
    try:
        import onnx  # noqa: F401
        import onnxscript  # noqa: F401
    except ImportError as e:
        raise ImportError(
            f"ONNX export needs onnx and onnxscript ({e}); pip install 'lnn_drive[export]'"
        ) from e


def standardise_layer_norm(frames: torch.Tensor) -> torch.Tensor:
    """``Preprocess.standardise`` written as one ``LayerNormalization`` over each image.

    uint8 (B, ...) -> float32 of the same shape (any layout: the statistics are over all
    of an image's values). The per-image standardisation of training
    is ``(x - mean) / max(std, 1/sqrt(n))`` (n = C*H*W, as TensorFlow's
    ``per_image_standardization``); this is ``(x - mean) / sqrt(var + 1/n)``, one fused
    kernel in ONNX Runtime instead of eight element-wise and reduction nodes (measured
    about 10% of an int8 step). The two agree exactly for a uniform frame (both give 0)
    and to a relative 1/(2 n var) otherwise: under 1.1e-5 (relative) for any frame whose
    pixels vary by a standard deviation of one grey level or more, i.e. every camera
    frame; they differ only for a frame that is uniform but for a few pixels off by one.
    """
    b = frames.shape[0]
    n = frames[0].numel()
    x = frames.float().reshape(b, n)  # (B, n)
    return F.layer_norm(x, (n,), eps=1.0 / n).reshape(frames.shape)


def _encoder_features(encoder: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``encoder.features(x)`` with the NCP head's per-map dense layers as one batched
    ``MatMul`` (ONNX Runtime runs an ``Einsum`` through transposes and a generic loop:
    measured 16 vs 10 us a step on the loaded machine). (N, 3, H, W) -> (N, F)."""
    if not isinstance(encoder, ConvHead):
        return encoder.features(x)
    maps = encoder.feature_maps(x)  # (N, M, H5, W5)
    n = maps.shape[0]
    flat = maps.reshape(n, encoder.maps, -1).transpose(0, 1)  # (M, N, H5*W5)
    out = torch.matmul(flat, encoder.map_weight).transpose(0, 1)  # (N, M, K)
    return torch.relu(out + encoder.map_bias).reshape(n, encoder.feature_dim)  # (N, M*K)


class StepGraph(nn.Module):
    """One control step of a policy: (frames (B, h, w, 3) uint8, state (B, S)) ->
    (action (B, k) physical, new_state (B, S)).

    The same computation as ``Policy.forward`` on one frame, written with the operators
    ONNX Runtime runs fastest: channel-last frames in (its int8 convolutions run
    channel-last, so a channel-first input costs a transpose in the graph and one more
    in the caller), the standardisation as a ``LayerNormalization``
    (:func:`standardise_layer_norm`) and the NCP head's dense layers as a ``MatMul``.
    A state head (used only by the BarrierNet layer, which is not exported) is left out.
    """

    def __init__(self, policy: Policy) -> None:
        super().__init__()
        self.policy = policy

    def forward(
        self, frames: torch.Tensor, state: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        p = self.policy
        x = standardise_layer_norm(frames).permute(0, 3, 1, 2)  # (B, 3, h, w), channels last
        if not p.channels_last:
            x = x.contiguous()
        feats = _encoder_features(p.encoder, x)  # (B, F)
        z, hx = p.controller(feats.unsqueeze(1), state)  # (B, 1, k), (B, S)
        return p.to_physical(z[:, 0]), hx


@contextmanager
def _atomic_path(path: Path) -> Iterator[Path]:
    """A temporary path next to ``path``, renamed over it on success, removed on failure."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


@contextmanager
def _quiet_exporter() -> Iterator[None]:
    """Silence the exporter's progress prints, INFO logs and upgrade notices (errors still
    propagate as exceptions)."""
    loggers = [logging.getLogger(n) for n in ("onnxscript", "onnx_ir", "torch.onnx")]
    levels = [lg.level for lg in loggers]
    try:
        for lg in loggers:
            lg.setLevel(logging.WARNING)
        with warnings.catch_warnings(), redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, lv in zip(loggers, levels, strict=True):
            lg.setLevel(lv)


def _write_metadata(
    src: Path, dst: Path, meta: Mapping[str, str], *, simplify: bool = False
) -> None:
    """Copy ``src`` to ``dst`` with ``meta`` set (and :mod:`lnn_drive.deploy.simplify`'s
    rewrites applied when ``simplify``)."""
    import onnx

    model = onnx.load(str(src))
    if simplify:
        from lnn_drive.deploy.simplify import simplify as simplify_graph

        simplify_graph(model)
    old = {p.key: p for p in model.metadata_props}
    for k, v in meta.items():
        if k in old:
            old[k].value = v
        else:
            model.metadata_props.add(key=k, value=v)
    onnx.save(model, str(dst))


def policy_metadata(
    policy: Policy, *, precision: str, checkpoint: Mapping[str, Any] | None = None
) -> dict[str, str]:
    """The ``lnn_drive.*`` metadata of an export (plain strings, JSON where structured)."""
    meta = {
        META_FORMAT: str(EXPORT_FORMAT),
        META_POLICY: json.dumps(_plain(policy.config())),
        META_STATE: str(policy.state_size),
        META_PRECISION: precision,
        "lnn_drive.inputs": "frames: uint8 (B, 3, h, w) in model geometry; state: float32 (B, S)",
        "lnn_drive.outputs": "action: float32 (B, k) physical units; new_state: float32 (B, S)",
    }
    if checkpoint is not None:
        extra = {k: checkpoint[k] for k in CHECKPOINT_KEYS if k in checkpoint}
        meta[META_CHECKPOINT] = json.dumps(_plain(extra), default=str)
    return meta


def export_policy(
    policy: Policy,
    path: str | os.PathLike,
    *,
    checkpoint: Mapping[str, Any] | None = None,
    opset: int = 18,
    simplify: bool = True,
) -> Path:
    """Write ``policy`` as a single-step fp32 ONNX graph (atomically).

    Args:
        policy: The policy (its weights are left unchanged; exported in eval mode on CPU).
        path: Output ``.onnx`` file.
        checkpoint: The checkpoint dict it came from; its config entries become metadata.
        opset: ONNX opset.
        simplify: Apply :mod:`lnn_drive.deploy.simplify`'s rewrites (fewer nodes, no
            standardisation constants).

    Returns:
        ``path``.
    """
    _need_onnx()
    if getattr(policy, "barrier", None) is not None:
        raise ValueError(
            "export: this policy has a BarrierNet layer (model.barrier); exporting it with its "
            "filter is not supported, and exporting it without would drop the filter"
        )
    path = Path(path)
    policy = policy.cpu().eval()
    c, h, w = policy.preprocess.output_shape
    frames = torch.zeros(2, h, w, c, dtype=torch.uint8)
    state = torch.zeros(2, policy.state_size)
    batch = torch.export.Dim("batch")
    with _atomic_path(path) as tmp, _quiet_exporter():
        torch.onnx.export(
            StepGraph(policy),
            (frames, state),
            str(tmp),
            input_names=["frames", "state"],
            output_names=["action", "new_state"],
            dynamic_shapes=({0: batch}, {0: batch}),
            opset_version=int(opset),
            dynamo=True,
            external_data=False,
            verbose=False,
        )
        meta = policy_metadata(policy, precision="fp32", checkpoint=checkpoint)
        _write_metadata(tmp, tmp, meta, simplify=simplify)
    return path


def chw_to_hwc(frames_chw: np.ndarray) -> np.ndarray:
    """Model-geometry frames as ``Preprocess`` makes them, uint8 (N, 3, h, w), in the
    exported graph's layout (N, h, w, 3), contiguous."""
    return np.ascontiguousarray(np.asarray(frames_chw).transpose(0, 2, 3, 1))


class _CalibrationReader:
    """Feeds calibration frames one at a time with the recurrent state carried by the fp32
    model, so the controller's activation ranges are those of a real drive."""

    def __init__(self, fp32: OnnxPolicy, frames_chw: np.ndarray) -> None:
        self.fp32, self.i = fp32, 0
        self.frames = chw_to_hwc(frames_chw)  # (N, h, w, 3): the graph's layout
        fp32.reset(1)

    def get_next(self) -> dict[str, np.ndarray] | None:
        if self.i >= len(self.frames):
            return None
        x = self.frames[self.i : self.i + 1]
        feeds = {"frames": x, "state": self.fp32.neuron_state()}
        self.fp32.step(x)
        self.i += 1
        return feeds

    def rewind(self) -> None:
        self.i = 0
        self.fp32.reset(1)


#: Operators quantised to int8: the convolutions (~99% of the multiply-accumulates) and
#: their ReLUs, so that ONNX Runtime fuses each Conv+ReLU and the activations stay int8
#: from one convolution to the next (measured: 9% faster than convolutions alone, and a
#: smaller action error). The per-map dense layers, the recurrent cell and the output
#: scaling stay fp32 (quantising them was no faster and 5x the error; quantising the
#: cell's state feedback would accumulate error over a drive).
INT8_OPS = ("Conv", "Relu")


def quantize_int8(
    fp32_path: str | os.PathLike,
    path: str | os.PathLike,
    calibration: np.ndarray,
    *,
    op_types: tuple[str, ...] = INT8_OPS,
    pad_rgb: bool = True,
) -> Path:
    """Static int8 quantisation (onnxruntime.quantization, QDQ, per-channel weights,
    activation ranges calibrated on ``calibration`` frames).

    Args:
        fp32_path: An fp32 export of :func:`export_policy`.
        path: Output ``.onnx`` file (written atomically).
        calibration: uint8 (N, 3, h, w) frames in model geometry, a contiguous stretch of a
            driving log (the state is carried through them).
        op_types: Operator types to quantise.
        pad_rgb: Give the first convolution a fourth, zero input channel
            (:func:`lnn_drive.deploy.simplify.pad_rgb_conv_input`: the same result, a
            faster int8 kernel).

    Returns:
        ``path``.
    """
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    cal = np.asarray(calibration)
    fp32 = OnnxPolicy(fp32_path)
    if cal.dtype != np.uint8 or cal.ndim != 4 or cal.shape[1:] != fp32.preprocess.output_shape:
        raise ValueError(
            f"calibration: expected uint8 frames (N, {', '.join(map(str, fp32.preprocess.output_shape))}), "
            f"got {cal.dtype} {cal.shape}"
        )
    if len(cal) == 0:
        raise ValueError("calibration: no frames")
    path = Path(path)
    meta = dict(fp32.metadata, **{META_PRECISION: "int8"})
    with tempfile.TemporaryDirectory(dir=path.parent if path.parent.exists() else None) as td:
        src = Path(fp32_path)
        if pad_rgb:
            import onnx

            from lnn_drive.deploy.simplify import pad_rgb_conv_input

            model = onnx.load(str(src))
            pad_rgb_conv_input(model)
            src = Path(td) / "padded.onnx"
            onnx.save(model, str(src))
        pre = Path(td) / "pre.onnx"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            quant_pre_process(str(src), str(pre), skip_symbolic_shape=True)
        q = Path(td) / "q.onnx"
        quantize_static(
            str(pre),
            str(q),
            _CalibrationReader(fp32, cal),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            op_types_to_quantize=list(op_types),
            calibrate_method=CalibrationMethod.MinMax,
        )
        with _atomic_path(path) as tmp:
            _write_metadata(q, tmp, meta, simplify=True)  # quant_pre_process folds constants back
    return path


def calibration_frames(
    log_root: str | os.PathLike, policy: Policy, *, frames: int = 256
) -> np.ndarray:
    """The first ``frames`` frames of a driving log (episode after episode, in order), in
    the policy's model geometry: uint8 (N, 3, h, w)."""
    from lnn_drive.data import DrivingLog

    log = DrivingLog(log_root)
    out: list[np.ndarray] = []
    n = 0
    for ep in log.episodes:
        if n >= frames:
            break
        raw = log.frames(ep)[: frames - n]  # (n_i, H, W, 3)
        out.append(policy.preprocess.geometry_batch(raw))  # (n_i, 3, h, w)
        n += len(raw)
    return np.concatenate(out)


def max_onnx_error(policy: Policy, onnx_path: str | os.PathLike, frames_chw: np.ndarray) -> float:
    """Largest |ONNX action - PyTorch action| over a frame sequence (N, 3, h, w), both
    carrying their recurrent state from zero (the PyTorch side in one sequence forward)."""
    runtime = OnnxPolicy(onnx_path)
    runtime.reset(1)
    ours = np.concatenate([runtime.step(f[None]) for f in chw_to_hwc(frames_chw)])  # (N, k)
    with torch.no_grad():
        ref, _ = policy.cpu().eval()(torch.from_numpy(np.asarray(frames_chw))[None])  # (1, N, k)
    return float(np.abs(ours - ref[0].numpy()).max())


def _sample_log() -> str:
    return str(PROJECT_ROOT / "data" / "sample")


@dataclass(frozen=True, kw_only=True)
class ExportConfig:
    """What ``export`` writes (``conf/export.yaml`` lists the same keys).

    Attributes:
        out_dir: Folder for ``<name>.fp32.onnx`` (and ``<name>.int8.onnx``).
        int8: Also write the static int8 model.
        calibration_log: Driving log whose first frames calibrate int8 and check parity.
        calibration_frames: Frames used for calibration.
        check_frames: Frames of the calibration log over which parity with PyTorch is
            measured and reported (0: skip).
        opset: ONNX opset.
    """

    out_dir: str = "."
    int8: bool = True
    calibration_log: str | None = field(default_factory=_sample_log)
    calibration_frames: int = 256
    check_frames: int = 200
    opset: int = 18

    def __post_init__(self) -> None:
        if self.int8 and not self.calibration_log:
            raise ValueError("calibration_log: required with int8=true (a driving log folder)")
        if self.calibration_frames < 1:
            raise ValueError(f"calibration_frames must be >= 1, got {self.calibration_frames}")
        if self.check_frames < 0:
            raise ValueError(f"check_frames must be >= 0, got {self.check_frames}")
        if not 17 <= self.opset <= 23:
            raise ValueError(f"opset must be in [17, 23], got {self.opset}")


def export(
    cfg: ExportConfig, policy: Policy, *, checkpoint: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Export a policy: fp32 (+ int8) ONNX files and their measured parity.

    Args:
        cfg: What to write.
        policy: The trained policy.
        checkpoint: The checkpoint dict it was loaded from (its config becomes metadata).

    Returns:
        ``{"files": {"fp32": path, "int8": path}, "max_abs_error": {"fp32": e, "int8": e},
        "bytes": {...}, "check_frames": n}``.
    """
    frames = None
    if cfg.calibration_log:
        n = max(cfg.calibration_frames, cfg.check_frames)
        frames = calibration_frames(cfg.calibration_log, policy, frames=n)
    out = Path(cfg.out_dir)
    name = policy.model_name
    files = {"fp32": export_policy(policy, out / f"{name}.fp32.onnx", checkpoint=checkpoint)}
    if cfg.int8:
        assert frames is not None  # checked in ExportConfig
        files["int8"] = quantize_int8(
            files["fp32"], out / f"{name}.int8.onnx", frames[: cfg.calibration_frames]
        )
    errors: dict[str, float] = {}
    if frames is not None and cfg.check_frames:
        for k, p in files.items():
            errors[k] = max_onnx_error(policy, p, frames[: cfg.check_frames])
    return {
        "files": {k: str(v) for k, v in files.items()},
        "bytes": {k: v.stat().st_size for k, v in files.items()},
        "max_abs_error": errors,
        "check_frames": 0 if frames is None else min(cfg.check_frames, len(frames)),
    }


def export_summary(result: dict[str, Any]) -> str:
    """The lines ``scripts/export.py`` prints for an :func:`export` result."""
    lines = []
    for k, path in result["files"].items():
        line = f"{k}: {path} ({result['bytes'][k]:,} bytes)"
        if k in result["max_abs_error"]:
            err = result["max_abs_error"][k]
            line += f", max |action - PyTorch| = {err:.2e} over {result['check_frames']} frames"
        lines.append(line)
    return "\n".join(lines)
