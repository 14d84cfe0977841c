"""Weights people can reuse: a checkpoint as ``safetensors`` + JSON, the layout of Hugging
Face model repositories.

An exported folder::

    <out>/
      model.safetensors   # the policy's state_dict (tensors only; no pickle anywhere)
      config.json         # {"lnn_drive_format", "policy": Policy.config(), "train_state", "versions", ...}
      README.md           # a short model card: outputs, units, preprocessing, how to load

``Policy.load`` reads such a folder (or its ``model.safetensors`` / ``config.json``) as well
as a ``.pt`` training checkpoint; nothing in this layout is unpickled.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from lnn_drive.models.policy import CheckpointMismatchError
from lnn_drive.train.checkpoint import CHECKPOINT_FORMAT, read_checkpoint

WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"


def _require_safetensors() -> Any:
    try:
        import safetensors.torch as st
    except ImportError as e:  # pragma: no cover - depends on the install
        raise ImportError(
            "safetensors is needed for exported weights: pip install safetensors"
        ) from e
    return st


def is_hub_layout(path: str | os.PathLike[str]) -> bool:
    """True for an exported folder, its ``model.safetensors`` or its ``config.json``."""
    p = Path(path)
    return p.is_dir() or p.suffix == ".safetensors" or p.name == CONFIG_NAME


def _folder(path: str | os.PathLike[str]) -> Path:
    p = Path(path)
    return p if p.is_dir() else p.parent


@dataclass(frozen=True, kw_only=True)
class ExportCheckpointConfig:
    """Options of :func:`export_checkpoint`.

    Attributes:
        checkpoint: A training checkpoint (``.pt``) or an exported folder.
        out: Destination folder (must not exist unless ``overwrite``).
        overwrite: Replace an existing folder (only once the new one is complete).
    """

    checkpoint: str
    out: str
    overwrite: bool = False

    def __post_init__(self) -> None:
        if not self.checkpoint or not self.out:
            raise ValueError("checkpoint and out must both be given")


def _model_card(cfg: dict[str, Any]) -> str:
    pol = cfg["policy"]
    pre = pol.get("preprocess", {})
    outs = ", ".join(f"`{n}` ({pol.get('units', {}).get(n, '?')})" for n in pol["output_names"])
    return f"""---
library_name: lnn_drive
tags: [lnn_drive, neural-circuit-policy, imitation-learning, autonomous-driving]
---
# {pol["model"].get("name", "policy")}: an lnn_drive driving policy

Camera frames in, {outs} out. Weights in `{WEIGHTS_NAME}`, the full policy config
(model, wiring arguments, preprocessing, output scaling) in `{CONFIG_NAME}`.
Model input {pre.get("height", "?")}x{pre.get("width", "?")} RGB after the saved preprocessing.
Trained for {cfg.get("train_state", {}).get("step", "?")} steps.

```python
from lnn_drive.models import Policy
policy = Policy.load("path/to/this/folder")   # no pickle involved
policy.reset()
action = policy.act(frame)                    # frame: uint8 (H, W, 3) RGB camera image
```
"""


def export_checkpoint(cfg: ExportCheckpointConfig) -> Path:
    """Write ``cfg.checkpoint`` as ``model.safetensors`` + ``config.json`` (+ model card).

    The folder is built beside ``out`` and renamed into place when complete.

    Returns:
        The output folder.

    Raises:
        FileNotFoundError, CheckpointMismatchError: the checkpoint is missing or unreadable.
        FileExistsError: ``out`` exists and ``overwrite`` is false.
    """
    st = _require_safetensors()
    ck = read_checkpoint(cfg.checkpoint)
    out = Path(cfg.out).expanduser().absolute()
    if out.exists() and not cfg.overwrite:
        raise FileExistsError(f"{out} exists; choose another path or pass overwrite=true")
    stage = out.with_name(f".{out.name}.{uuid.uuid4().hex[:8]}.incomplete")
    stage.mkdir(parents=True)
    try:
        # safetensors refuses tensors that share memory; a clone per tensor is cheap here
        tensors = {k: v.detach().cpu().contiguous().clone() for k, v in ck["model_state"].items()}
        config = {
            "lnn_drive_format": CHECKPOINT_FORMAT,
            "policy": ck["policy"],
            "train_state": ck.get("train_state", {}),
            "data": ck.get("data", {}),
            "versions": ck.get("versions", {}),
        }
        st.save_file(
            tensors, str(stage / WEIGHTS_NAME), metadata={"format": "pt", "producer": "lnn_drive"}
        )
        (stage / CONFIG_NAME).write_text(json.dumps(config, indent=2, default=str))
        (stage / "README.md").write_text(_model_card(config))
        if out.exists():
            old = out.with_name(f".{out.name}.old-{uuid.uuid4().hex[:8]}")
            os.replace(out, old)
            shutil.rmtree(old, ignore_errors=True)
        os.replace(stage, out)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    return out


def read_hub_checkpoint(
    path: str | os.PathLike[str], map_location: str | torch.device = "cpu"
) -> dict[str, Any]:
    """Read an exported folder into the same dict a ``.pt`` checkpoint gives
    (``format``, ``policy``, ``model_state``, ...), without unpickling anything.

    Raises:
        FileNotFoundError: the folder or one of its two files is missing.
        CheckpointMismatchError: a malformed config or weights file, or another format.
    """
    st = _require_safetensors()
    folder = _folder(path)
    cfg_path, w_path = folder / CONFIG_NAME, folder / WEIGHTS_NAME
    for p in (cfg_path, w_path):
        if not p.is_file():
            raise FileNotFoundError(
                f"{p}: not found (an exported policy folder has {CONFIG_NAME} and {WEIGHTS_NAME})"
            )
    try:
        cfg = json.loads(cfg_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointMismatchError(f"{cfg_path}: invalid JSON ({e})") from e
    if not isinstance(cfg, dict) or "policy" not in cfg or "lnn_drive_format" not in cfg:
        raise CheckpointMismatchError(
            f"{cfg_path}: not an lnn_drive policy config (keys 'lnn_drive_format', 'policy' expected)"
        )
    if cfg["lnn_drive_format"] != CHECKPOINT_FORMAT:
        raise CheckpointMismatchError(
            f"{cfg_path}: format {cfg['lnn_drive_format']} but this version reads {CHECKPOINT_FORMAT}"
        )
    try:
        state = st.load_file(str(w_path), device=str(map_location))
    except Exception as e:  # safetensors raises its own error types
        raise CheckpointMismatchError(
            f"{w_path}: not a readable safetensors file ({type(e).__name__}: {e})"
        ) from e
    return {
        "format": CHECKPOINT_FORMAT,
        "policy": cfg["policy"],
        "model_state": state,
        "optimizer": None,
        "train_state": cfg.get("train_state", {}),
        "data": cfg.get("data", {}),
        "versions": cfg.get("versions", {}),
    }
