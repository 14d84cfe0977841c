"""Self-describing training checkpoints, written atomically, read with ``weights_only=True``.

A checkpoint is a dict of plain data and tensors only:

``format``        layout version (``lnn_drive.models.policy.CHECKPOINT_FORMAT``)
``policy``        ``Policy.config()``: model config (incl. wiring arguments and seed),
                  preprocessing, output names/units, output scaling
``model_state``   the unwrapped policy's ``state_dict``
``optimizer``     the optimiser's ``state_dict`` (``None`` in export-only files)
``train_state``   step, epoch, position in the epoch, best validation loss, ...
``data``          target statistics and the dataset report
``train_cfg``     the ``train`` config group, for reference
``versions``      torch / ncps / lnn_drive versions that wrote it
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

import lnn_drive
from lnn_drive.models.policy import (
    CHECKPOINT_FORMAT,
    CheckpointMismatchError,
    Policy,
    _plain,
    read_checkpoint,
)

__all__ = [
    "CheckpointMismatchError",
    "TrainState",
    "atomic_torch_save",
    "check_compatible",
    "load_checkpoint",
    "save_checkpoint",
]


@dataclass(kw_only=True)
class TrainState:
    """Where a training run is, enough to continue it exactly.

    Attributes:
        step: Optimiser steps done.
        epoch: Current pass over the training windows.
        epoch_pos: Windows of this epoch (per rank) already consumed.
        best_val: Lowest validation loss so far (``inf`` before the first).
        best_step: Step of ``best_val``.
        bad_evals: Validations since the last improvement (early stopping).
        elapsed_s: Training seconds so far (across resumes).
    """

    step: int = 0
    epoch: int = 0
    epoch_pos: int = 0
    best_val: float = float("inf")
    best_step: int = -1
    bad_evals: int = 0
    elapsed_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TrainState:
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> Path:
    """``torch.save`` to a temporary file in the same folder, then rename over ``path``:
    a reader (or a crash) never sees a half-written file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def save_checkpoint(
    path: str | os.PathLike,
    *,
    policy: Policy,
    optimizer: torch.optim.Optimizer | None = None,
    state: TrainState | None = None,
    data: Mapping[str, Any] | None = None,
    train_cfg: Mapping[str, Any] | None = None,
) -> Path:
    """Write a checkpoint atomically; returns its path."""
    import ncps

    ck = {
        "format": CHECKPOINT_FORMAT,
        "policy": _plain(policy.config()),
        "model_state": {k: v.detach().cpu() for k, v in policy.state_dict().items()},
        "optimizer": None if optimizer is None else optimizer.state_dict(),
        "train_state": (state or TrainState()).to_dict(),
        "data": _plain(dict(data or {})),
        "train_cfg": _plain(dict(train_cfg or {})),
        "versions": {
            "torch": str(torch.__version__),
            "ncps": str(getattr(ncps, "__version__", "?")),
            "lnn_drive": lnn_drive.__version__,
        },
    }
    return atomic_torch_save(ck, path)


def load_checkpoint(
    path: str | os.PathLike, map_location: str | torch.device = "cpu"
) -> dict[str, Any]:
    """Read a checkpoint (``weights_only=True``) and check its format."""
    return read_checkpoint(path, map_location=map_location)


def _diff(a: Any, b: Any, prefix: str) -> str | None:
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        for k in sorted(set(a) | set(b)):
            if k not in a or k not in b:
                return f"{prefix}{k}"
            d = _diff(a[k], b[k], f"{prefix}{k}.")
            if d:
                return d
        return None
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        if len(a) != len(b):
            return prefix.rstrip(".")
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            d = _diff(x, y, f"{prefix}{i}.")
            if d:
                return d
        return None
    if isinstance(a, float) or isinstance(b, float):
        try:
            return (
                None
                if abs(float(a) - float(b)) <= 1e-6 * max(1.0, abs(float(a)))
                else prefix.rstrip(".")
            )
        except (TypeError, ValueError):
            return prefix.rstrip(".")
    return None if a == b else prefix.rstrip(".")


def check_compatible(ck: Mapping[str, Any], policy: Policy, *, path: str | os.PathLike) -> None:
    """Raise ``CheckpointMismatchError`` naming the first config key where the checkpoint's
    policy differs from ``policy`` (model, wiring, preprocessing, outputs)."""
    want = _plain(policy.config())
    have = ck["policy"]
    for section in ("model", "preprocess", "output_names"):
        d = _diff(have.get(section), want.get(section), f"{section}.")
        if d:
            raise CheckpointMismatchError(
                f"{path}: checkpoint does not match the config at {d!r} "
                f"(checkpoint: {_lookup(have, d)!r}, config: {_lookup(want, d)!r})"
            )


def _lookup(cfg: Any, dotted: str) -> Any:
    cur = cfg
    for part in dotted.split("."):
        if isinstance(cur, Mapping):
            cur = cur.get(part, "<absent>")
        elif isinstance(cur, list) and part.isdigit() and int(part) < len(cur):
            cur = cur[int(part)]
        else:
            return "<absent>"
    return cur
