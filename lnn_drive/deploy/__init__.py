"""Deployment: ONNX export of a trained ``Policy`` and a runtime without PyTorch.

``lnn_drive.deploy.export`` needs torch and ``onnx``/``onnxscript`` (the ``export`` extra);
``lnn_drive.deploy.runtime`` (:class:`OnnxPolicy`) needs only onnxruntime, numpy and
OpenCV (``requirements-edge.txt``), so this ``__init__`` imports neither eagerly.
"""

from __future__ import annotations

from typing import Any

__all__ = ["OnnxPolicy", "export_policy", "quantize_int8"]


def __getattr__(name: str) -> Any:
    if name == "OnnxPolicy":
        from lnn_drive.deploy.runtime import OnnxPolicy

        return OnnxPolicy
    if name in ("export_policy", "quantize_int8"):
        from lnn_drive.deploy import export

        return getattr(export, name)
    raise AttributeError(f"module 'lnn_drive.deploy' has no attribute {name!r}")
