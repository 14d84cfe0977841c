"""``Policy`` = preprocessing + encoder + controller + output scaling.

Training calls ``forward`` (or ``forward_standardised``) on uint8 windows (B, T, 3, H, W)
already in model geometry; closed loop calls ``act`` / ``act_batch`` on raw camera frames,
which run the same ``Preprocess`` geometry and the same in-model standardisation. The
recurrent state lives in the policy between ``act`` calls and is explicit in ``forward``.

A checkpoint holds plain data only (config dicts, lists, tensors); its format lives in
:mod:`lnn_drive.train.checkpoint`, and ``Policy.load`` rebuilds a policy from one alone.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from lnn_drive.data.preprocess import Preprocess
from lnn_drive.models.config import ModelConfig
from lnn_drive.models.controllers import Controller, build_controller
from lnn_drive.models.encoders import Encoder, build_encoder


class CheckpointMismatchError(ValueError):
    """A checkpoint does not fit the model or config it is loaded into; names the key."""


@dataclass(frozen=True, kw_only=True)
class HeadsOutput:
    """Everything one batched forward of a policy with extra heads produces.

    Attributes:
        z: (B, T, k) outputs in standardised units (the barrier-filtered command in
            column 0 when the policy has a barrier layer).
        hx: (B, S) controller state after the window.
        z_nominal: (B, T, k) the controller's outputs before the barrier (== ``z`` without).
        state: (B, T, 3) standardised state estimate, or ``None`` without a state head.
        p1, p2: (B, T) learned class-K gains, or ``None`` without a barrier layer.
    """

    z: torch.Tensor
    hx: torch.Tensor
    z_nominal: torch.Tensor
    state: torch.Tensor | None = None
    p1: torch.Tensor | None = None
    p2: torch.Tensor | None = None


def _plain(x: Any) -> Any:
    """Config values as plain Python (mappings/tuples/numpy -> dict/list/scalars)."""
    if isinstance(x, Mapping):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_plain(v) for v in x]
    if isinstance(x, np.generic):
        return x.item()
    return x


class Policy(nn.Module):
    """A driving policy.

    Args:
        model_cfg: ``{"name", "encoder": {type, ...}, "controller": {type, ...},
            "channels_last": bool}`` (the ``model`` config group).
        preprocess: Geometry + standardisation; its (height, width) is the model input.
        output_names: Names of the k outputs (e.g. ``["steering"]``).
        units: Output name -> unit.
        target_mean, target_std: (k,) output scaling: physical = standardised * std + mean.
    """

    def __init__(
        self,
        *,
        model_cfg: ModelConfig | Mapping[str, Any],
        preprocess: Preprocess,
        output_names: Sequence[str],
        units: Mapping[str, str] | None = None,
        target_mean: Sequence[float] | np.ndarray | None = None,
        target_std: Sequence[float] | np.ndarray | None = None,
    ) -> None:
        super().__init__()
        if isinstance(model_cfg, ModelConfig):
            model_cfg = model_cfg.to_dict()
        self.model_cfg = _plain(dict(model_cfg))
        self.model_name: str = str(self.model_cfg.get("name", "policy"))
        self.preprocess = preprocess
        self.output_names = list(output_names)
        self.units = dict(units or {})
        k = len(self.output_names)
        if k == 0:
            raise ValueError("Policy: output_names must name at least one output")
        self.channels_last = bool(self.model_cfg.get("channels_last", True))
        self.encoder: Encoder = build_encoder(
            self.model_cfg.get("encoder", {"type": "conv_head"}),
            height=preprocess.height,
            width=preprocess.width,
        )
        if "controller" not in self.model_cfg:
            raise ValueError("model.controller: missing (e.g. controller: {type: ncp_cfc})")
        self.controller: Controller = build_controller(
            self.model_cfg["controller"], in_features=self.encoder.feature_dim, out_features=k
        )
        mean = np.zeros(k) if target_mean is None else np.asarray(target_mean, np.float64)
        std = np.ones(k) if target_std is None else np.asarray(target_std, np.float64)
        if mean.shape != (k,) or std.shape != (k,):
            raise ValueError(
                f"Policy: target_mean/target_std must have shape ({k},), got {mean.shape}/{std.shape}"
            )
        self.register_buffer("output_mean", torch.tensor(mean, dtype=torch.float32))
        self.register_buffer("output_std", torch.tensor(std, dtype=torch.float32))
        self._build_heads()
        if self.channels_last:
            self.encoder.to(memory_format=torch.channels_last)
        self._hx: torch.Tensor | None = None
        self.state_estimate: np.ndarray | None = None
        #: closed-loop steps and steps where the barrier layer changed the command
        self.barrier_stats = {"steps": 0, "changed": 0}

    def _build_heads(self) -> None:
        """The optional vision state head and BarrierNet layer (``model.state_head`` /
        ``model.barrier``). Without them no module or buffer is added, so the weights and
        outputs of every existing model are unchanged."""
        from lnn_drive.models.safety import STATE_KEYS, BarrierLayer

        spec = self.model_cfg.get("state_head")
        self.state_signals: list[str] | None = None
        self.state_head: nn.Module | None = None
        self.barrier: BarrierLayer | None = None
        if spec is not None:
            bad = sorted(set(spec) - {"hidden"})
            if bad:
                raise ValueError(f"model.state_head: unknown key(s) {bad}; valid: ['hidden']")
            hidden = int(spec.get("hidden", 32))
            if hidden < 1:
                raise ValueError(f"model.state_head.hidden must be >= 1, got {hidden}")
            self.state_signals = list(STATE_KEYS)
            n = len(self.state_signals)
            self.state_head = nn.Sequential(
                nn.Linear(self.encoder.feature_dim, hidden), nn.ReLU(), nn.Linear(hidden, n)
            )
            # label statistics of the training logs (set by the trainer, saved as weights)
            self.register_buffer("state_mean", torch.zeros(n))
            self.register_buffer("state_std", torch.ones(n))
        bspec = self.model_cfg.get("barrier")
        if bspec is not None:
            if self.state_head is None:
                raise ValueError("model.barrier: needs model.state_head (the state it uses)")
            if self.output_names[0] != "steering":
                raise ValueError(
                    f"model.barrier: the first output must be steering (curvature), got "
                    f"{self.output_names[0]!r}"
                )
            # gains from the controller state; a stateless controller (feed-forward) has
            # none, so its gains come from the per-frame features it is fed instead
            gain_in = self.state_size or self.encoder.feature_dim
            self.barrier = BarrierLayer.from_config(dict(bspec), state_size=gain_in)

    def set_state_stats(self, mean: Sequence[float], std: Sequence[float]) -> None:
        """Store the state labels' mean/std (the state head predicts standardised labels)."""
        if self.state_head is None:
            raise ValueError("Policy.set_state_stats: the policy has no state head")
        self.state_mean.copy_(torch.as_tensor(np.asarray(mean, np.float32)))
        self.state_std.copy_(torch.as_tensor(np.asarray(std, np.float32)))

    @property
    def has_heads(self) -> bool:
        """Whether the policy has a state head (and maybe a barrier layer)."""
        return self.state_head is not None

    # ------------------------------------------------------------------ description
    def config(self) -> dict[str, Any]:
        """Everything but the weights needed to rebuild this policy (plain data)."""
        return {
            "model": self.model_cfg,
            "preprocess": self.preprocess.to_config(),
            "output_names": list(self.output_names),
            "units": dict(self.units),
            "target_mean": self.output_mean.tolist(),
            "target_std": self.output_std.tolist(),
        }

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> Policy:
        """Inverse of ``config()`` (weights freshly initialised)."""
        return cls(
            model_cfg=cfg["model"],
            preprocess=Preprocess.from_config(dict(cfg["preprocess"])),
            output_names=list(cfg["output_names"]),
            units=dict(cfg.get("units", {})),
            target_mean=cfg.get("target_mean"),
            target_std=cfg.get("target_std"),
        )

    # ------------------------------------------------------------------ batched forward
    @staticmethod
    def standardise(x: torch.Tensor) -> torch.Tensor:
        """Per-image standardisation of (..., 3, H, W) uint8/float -> float32."""
        return Preprocess.standardise(x)

    def encoder_forward(self, x: torch.Tensor) -> torch.Tensor:
        """Standardised float frames (N, 3, H, W) -> features (N, F)."""
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return self.encoder.features(x)

    def _check_frames(self, frames: torch.Tensor) -> None:
        c, h, w = self.preprocess.output_shape
        if frames.dim() != 5 or tuple(frames.shape[2:]) != (c, h, w):
            raise ValueError(
                f"Policy.forward: expected frames (B, T, {c}, {h}, {w}), got {tuple(frames.shape)}"
            )

    def forward_standardised(
        self, frames: torch.Tensor, hx: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Like ``forward`` but outputs in standardised target units (what the loss uses)."""
        if self.has_heads:
            out = self.forward_heads(frames, hx)
            return out.z, out.hx
        return self._control(self._features(frames), hx)  # (B, T, k), (B, S)

    def _control(
        self, feats: torch.Tensor, hx: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The controller on features (B, T, F), always in float32: under bf16 autocast
        only the encoder runs in bf16 (the controller's many small per-step matmuls gain
        nothing from it and would pay a cast each, and its state keeps full precision)."""
        with torch.autocast(feats.device.type, enabled=False):
            return self.controller(feats.float(), hx)

    def _features(self, frames: torch.Tensor) -> torch.Tensor:
        self._check_frames(frames)
        b, t = frames.shape[:2]
        x = self.standardise(frames.reshape(b * t, *frames.shape[2:]))  # (B*T, 3, H, W)
        return self.encoder_forward(x).reshape(b, t, -1)  # (B, T, F)

    def forward_heads(self, frames: torch.Tensor, hx: torch.Tensor | None = None) -> HeadsOutput:
        """The forward of a policy with a state head (and barrier layer): outputs,
        state estimate and gains, all standardised (see :class:`HeadsOutput`).

        With a barrier layer the controller is stepped one frame at a time, so the gains
        come from its state at every step (from the features for a stateless controller); the barrier uses the state head's estimate,
        detached (the state head learns only from its own labels, so the command loss
        cannot bend the estimate to loosen the barrier).
        """
        feats = self._features(frames)  # (B, T, F)
        state = self.state_head(feats) if self.state_head is not None else None  # (B, T, 3)
        if self.barrier is None:
            z, hx = self._control(feats, hx)  # (B, T, k), (B, S)
            return HeadsOutput(z=z, hx=hx, z_nominal=z, state=state)
        outs, states = [], []
        for t in range(feats.shape[1]):
            z_t, hx = self._control(feats[:, t : t + 1], hx)  # (B, 1, k), (B, S)
            outs.append(z_t)
            states.append(hx)
        z_nom = torch.cat(outs, dim=1)  # (B, T, k)
        hxs = torch.stack(states, dim=1)  # (B, T, S)
        assert state is not None
        s_phys = (state * self.state_std + self.state_mean).detach()  # (B, T, 3)
        u_nom = z_nom[..., 0] * self.output_std[0] + self.output_mean[0]  # (B, T) in 1/m
        u, p1, p2 = self.barrier(u_nom, s_phys, hxs if self.state_size else feats)
        z0 = (u - self.output_mean[0]) / self.output_std[0]
        z = torch.cat([z0.unsqueeze(-1), z_nom[..., 1:]], dim=-1)  # (B, T, k)
        return HeadsOutput(z=z, hx=hx, z_nominal=z_nom, state=state, p1=p1, p2=p2)

    def state_to_physical(self, s: torch.Tensor) -> torch.Tensor:
        """Standardised state estimate (..., 3) -> m, rad, 1/m."""
        return s * self.state_std + self.state_mean

    def to_physical(self, z: torch.Tensor) -> torch.Tensor:
        """Standardised outputs (..., k) -> physical units."""
        return z * self.output_std + self.output_mean

    def forward(
        self, frames: torch.Tensor, hx: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Frames (B, T, 3, H, W) uint8 or float in model geometry -> (outputs (B, T, k) in
        physical units, state (B, state_size))."""
        z, hx = self.forward_standardised(frames, hx)
        return self.to_physical(z), hx

    # ------------------------------------------------------------------ closed loop
    @property
    def state_size(self) -> int:
        return int(self.controller.state_size)

    def reset(self, batch_size: int = 1) -> None:
        """Zero the recurrent state for ``batch_size`` parallel episodes."""
        if int(batch_size) < 1:
            raise ValueError(f"Policy.reset: batch_size must be >= 1, got {batch_size}")
        self._hx = self.controller.initial_state(int(batch_size), self.output_mean.device)

    def reset_rows(self, mask: np.ndarray) -> None:
        """Zero the state of rows whose episode ended. mask: (B,) bool."""
        m = np.asarray(mask)
        if self._hx is None:
            self.reset(len(m))
            return
        if m.dtype != np.bool_ or m.shape != (self._hx.shape[0],):
            raise ValueError(
                f"Policy.reset_rows: expected a bool mask of shape ({self._hx.shape[0]},), got {m.dtype} {m.shape}"
            )
        keep = torch.from_numpy(~m).to(self._hx.device)[:, None]  # (B, 1)
        self._hx = self._hx * keep  # out of place: the state may be an inference tensor

    @torch.inference_mode()
    def act_batch(self, frames: np.ndarray) -> np.ndarray:
        """One closed-loop step for B parallel episodes.

        Args:
            frames: uint8 (B, H_in, W_in, 3) raw camera frames.

        Returns:
            (B, k) float32 actions in physical units.
        """
        if not isinstance(frames, np.ndarray) or frames.dtype != np.uint8 or frames.ndim != 4:
            got = (
                f"{frames.dtype} {frames.shape}"
                if isinstance(frames, np.ndarray)
                else type(frames).__name__
            )
            raise ValueError(f"Policy.act_batch: expected uint8 frames (B, H, W, 3), got {got}")
        b = frames.shape[0]
        for i in range(b):
            self.preprocess.check_frame(frames[i], what=f"Policy.act_batch: frame {i}")
        x = torch.from_numpy(self.preprocess.geometry_batch(frames))  # (B, 3, h, w)
        if self._hx is None:
            self.reset(b)
        elif self._hx.shape[0] != b:
            raise ValueError(
                f"Policy.act_batch: the state holds {self._hx.shape[0]} episodes, got {b} frames; "
                f"call reset(batch_size={b})"
            )
        x = x.unsqueeze(1).to(self.output_mean.device)  # (B, 1, 3, h, w)
        if self.has_heads:
            out = self.forward_heads(x, self._hx)
            self._hx = out.hx
            assert out.state is not None
            self.state_estimate = self.state_to_physical(out.state[:, 0]).float().cpu().numpy()
            if self.barrier is not None:
                changed = (out.z[:, 0, 0] - out.z_nominal[:, 0, 0]).abs() > 1e-9
                self.barrier_stats["steps"] += int(changed.numel())
                self.barrier_stats["changed"] += int(changed.sum())
            return self.to_physical(out.z[:, 0]).float().cpu().numpy()  # (B, k)
        y, self._hx = self.forward(x, self._hx)
        return y[:, 0].float().cpu().numpy()  # (B, k)

    def act(self, frame: np.ndarray) -> np.ndarray:
        """One closed-loop step: uint8 (H_in, W_in, 3) camera frame -> (k,) action."""
        if not isinstance(frame, np.ndarray):
            raise ValueError(
                f"Policy.act: expected a numpy uint8 array (H, W, 3), got {type(frame).__name__}"
            )
        self.preprocess.check_frame(frame, what="Policy.act: frame")
        if self._hx is not None and self._hx.shape[0] != 1:
            raise ValueError(
                f"Policy.act: the state holds {self._hx.shape[0]} episodes; use act_batch or reset(1)"
            )
        return self.act_batch(frame[None])[0]

    def neuron_state(self) -> np.ndarray:
        """Current controller state (B, state_size) (NCP: the neuron potentials)."""
        if self._hx is None:
            return np.zeros((1, self.state_size), np.float32)
        return self._hx.detach().float().cpu().numpy().copy()

    def neuron_groups(self) -> dict[str, list[int]]:
        """State indices of the inter/command/motor neurons (NCP), else ``{}``."""
        return self.controller.neuron_groups()

    # ------------------------------------------------------------------ checkpoints
    def load_weights(
        self, state_dict: Mapping[str, torch.Tensor], *, source: str = "checkpoint"
    ) -> None:
        """Load weights after checking every key and shape; mismatches name the key."""
        own = self.state_dict()
        missing = [k for k in own if k not in state_dict]
        extra = [k for k in state_dict if k not in own]
        if missing or extra:
            raise CheckpointMismatchError(
                f"{source}: weights do not fit model {self.model_name!r}: "
                + (f"missing key(s) {missing[:5]}" if missing else "")
                + ("; " if missing and extra else "")
                + (f"unexpected key(s) {extra[:5]}" if extra else "")
            )
        for k, v in own.items():
            if tuple(state_dict[k].shape) != tuple(v.shape):
                raise CheckpointMismatchError(
                    f"{source}: key {k!r} has shape {tuple(state_dict[k].shape)} in the checkpoint "
                    f"but {tuple(v.shape)} in model {self.model_name!r}"
                )
        self.load_state_dict(dict(state_dict), strict=True)

    @classmethod
    def load(cls, path: str | os.PathLike, map_location: str | torch.device = "cpu") -> Policy:
        """Rebuild a policy from a checkpoint file alone (see
        :func:`lnn_drive.train.checkpoint.load_policy`, where the format lives)."""
        from lnn_drive.train.checkpoint import load_policy

        return load_policy(path, map_location=map_location)
