"""The checkpoint format, in one module: write (atomically), read (``weights_only=True``),
check (format, finite weights, fit to a model) and load a policy from the file alone.

A checkpoint is a dict of plain data and tensors only:

``format``        layout version (:data:`CHECKPOINT_FORMAT`)
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
from lnn_drive.models.policy import CheckpointMismatchError, Policy, _plain

__all__ = [
    "CHECKPOINT_FORMAT",
    "CheckpointMismatchError",
    "TrainState",
    "atomic_torch_save",
    "check_compatible",
    "load_checkpoint",
    "load_policy",
    "read_checkpoint",
    "save_checkpoint",
]

#: Bumped when the checkpoint layout changes incompatibly.
CHECKPOINT_FORMAT = 1


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


def read_checkpoint(
    path: str | os.PathLike, map_location: str | torch.device = "cpu"
) -> dict[str, Any]:
    """``torch.load(path, weights_only=True)`` plus the format and weight checks; an
    exported folder (``model.safetensors`` + ``config.json``) is read by
    :mod:`lnn_drive.train.hub`, without unpickling anything.

    Raises:
        FileNotFoundError: no such file.
        CheckpointMismatchError: not a loadable checkpoint (never unpickled with
            ``weights_only=False``), another format version, or NaN/inf weights; one line
            naming the file (and key).
    """
    p = Path(path)
    from lnn_drive.train import hub  # safetensors + config.json folders (export-checkpoint)

    if hub.is_hub_layout(p):
        ck = hub.read_hub_checkpoint(p, map_location=map_location)
        check_finite(ck["model_state"], path=p)
        return ck
    if not p.is_file():
        raise FileNotFoundError(f"checkpoint not found: {p}")
    try:
        ck = torch.load(p, map_location=map_location, weights_only=True)
    except Exception as e:  # unpickling errors come in many types, with multi-line advice
        # torch's text suggests weights_only=False, i.e. running the file's code: not here.
        raise CheckpointMismatchError(
            f"{p}: not a loadable checkpoint ({type(e).__name__}); it holds something other "
            f"than tensors and plain data, or is not a torch file, and will not be unpickled"
        ) from None
    if (
        not isinstance(ck, dict)
        or "format" not in ck
        or "policy" not in ck
        or "model_state" not in ck
    ):
        raise CheckpointMismatchError(
            f"{p}: not an lnn_drive checkpoint (keys 'format', 'policy', 'model_state' expected)"
        )
    if ck["format"] != CHECKPOINT_FORMAT:
        raise CheckpointMismatchError(
            f"{p}: checkpoint format {ck['format']} but this version reads format {CHECKPOINT_FORMAT}"
        )
    check_finite(ck["model_state"], path=p)
    return ck


def check_finite(state: Mapping[str, Any], *, path: str | os.PathLike) -> None:
    """Refuse weights holding NaN or inf, naming the file and the first such key."""
    if not isinstance(state, Mapping):
        raise CheckpointMismatchError(f"{path}: key 'model_state' is not a mapping of tensors")
    for k, v in state.items():
        if not isinstance(v, torch.Tensor):
            raise CheckpointMismatchError(f"{path}: model_state key {k!r} is not a tensor")
        if v.is_floating_point() and not bool(torch.isfinite(v).all()):
            bad = int((~torch.isfinite(v)).sum())
            raise CheckpointMismatchError(
                f"{path}: model_state key {k!r} holds {bad} NaN/inf value(s); refusing to load"
            )


def load_checkpoint(
    path: str | os.PathLike, map_location: str | torch.device = "cpu"
) -> dict[str, Any]:
    """Read a checkpoint (``weights_only=True``) and check its format and weights."""
    return read_checkpoint(path, map_location=map_location)


def load_policy(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> Policy:
    """Rebuild a :class:`Policy` (config + weights) from a checkpoint file alone.

    Raises:
        ValueError: no path given.
        FileNotFoundError: no such file.
        CheckpointMismatchError: anything wrong with the file, naming it and the key.
    """
    if str(path) in ("", "???"):
        raise ValueError("no checkpoint given (pass checkpoint=path/to/best.pt)")
    p = Path(str(path)).expanduser()
    ck = read_checkpoint(p, map_location=map_location)
    cfg = ck["policy"]
    try:
        policy = Policy.from_config(cfg)
    except KeyError as e:
        raise CheckpointMismatchError(f"{p}: policy config lacks key {e}") from e
    except (TypeError, ValueError) as e:
        kind = (
            cfg.get("model", {}).get("controller", {}).get("type", "?")
            if isinstance(cfg, Mapping)
            else "?"
        )
        raise CheckpointMismatchError(
            f"{p}: key policy.model does not build a model (controller type {kind!r}): {e}"
        ) from e
    policy.load_weights(ck["model_state"], source=str(p))
    policy.to(map_location)
    policy.eval()
    return policy


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
