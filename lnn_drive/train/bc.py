"""Behaviour cloning: windows of frames -> per-step targets, weighted MSE, Adam.

``train(TrainConfig(...), data=DataConfig(...), model=ModelConfig(...), run_dir=...)``
trains and returns where the checkpoints are; ``scripts/train.py`` builds the same typed
configs from ``conf/train.yaml``. The run is split into :func:`build_run` (data, policy,
optimiser), :func:`resume_run`, :func:`train_step` and the loop :func:`fit`. The loss follows the NCP
paper: squared error on standardised targets weighted by ``w(y) = exp(alpha * |y|)``
(sharp turns weigh more), Adam, optional down-scaled convolution gradients and global-norm
clipping. A run is reproducible from ``train.seed``: batches are drawn from a permutation
seeded by (seed, epoch) and augmentation by (seed, epoch, window), so a run killed and
resumed from its last checkpoint ends with the same weights as an uninterrupted one.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lnn_drive.data.dataset import DataConfig, DataSplit, SequenceDataset, build_datasets
from lnn_drive.models.config import ModelConfig
from lnn_drive.models.policy import Policy
from lnn_drive.train.allocator import tune_allocator
from lnn_drive.train.amp import AMP_SETTINGS, resolve_amp
from lnn_drive.train.checkpoint import (
    TrainState,
    check_compatible,
    load_checkpoint,
    save_checkpoint,
)
from lnn_drive.train.distributed import (
    DistInfo,
    all_reduce_sum,
    broadcast_object,
    broadcast_tensor,
    cleanup,
    init_distributed,
    max_weight_difference,
)
from lnn_drive.train.logger import RunLogger

log = logging.getLogger(__name__)


class NonFiniteLossError(RuntimeError):
    """The training loss became NaN/inf; the message names the step and the last good
    checkpoint (which is left untouched)."""


@dataclass(frozen=True, kw_only=True)
class TrainConfig:
    """The ``train`` config group: the optimisation recipe. These defaults are the CLI's
    (``conf/train/default.yaml`` documents each key; a test keeps the two equal): the
    short-budget recipe the demo was tuned with."""

    seed: int = 0
    max_steps: int = 2000
    max_minutes: float | None = None
    batch_size: int = 8
    val_batch_size: int = 32
    lr: float = 5e-3
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.999)
    schedule: str = "cosine"
    warmup_steps: int = 100
    warmup_fraction: float = 0.1
    min_lr_ratio: float = 0.05
    step_every: int = 1000
    step_gamma: float = 0.5
    alpha: float = 0.5
    state_loss_weight: float = 0.0
    conv_grad_scale: float = 0.2
    clip_norm: float | None = 1.0
    val_every: int = 100
    val_max_windows: int | None = 256
    checkpoint_every: int = 200
    patience: int | None = None
    min_delta: float = 0.0
    resume: bool | str = True
    init_checkpoint: str | None = None
    threads: int | None = None
    device: str = "auto"
    amp: bool | str = "auto"
    compile: bool = False
    progress: bool = True
    log_every: int = 10

    def __post_init__(self) -> None:
        def bad(name: str, msg: str) -> None:
            raise ValueError(f"train.{name}: {msg}, got {getattr(self, name)!r}")

        if self.max_steps < 1:
            bad("max_steps", "must be >= 1")
        if self.max_minutes is not None and self.max_minutes <= 0:
            bad("max_minutes", "must be > 0 or null")
        for n in ("batch_size", "val_batch_size", "val_every", "checkpoint_every", "log_every"):
            if getattr(self, n) < 1:
                bad(n, "must be >= 1")
        if self.lr <= 0:
            bad("lr", "must be > 0")
        if self.schedule not in ("cosine", "step", "constant"):
            bad("schedule", "must be cosine, step or constant")
        if not 0 <= self.min_lr_ratio <= 1:
            bad("min_lr_ratio", "must be in [0, 1]")
        if self.alpha < 0:
            bad("alpha", "must be >= 0")
        if not self.state_loss_weight >= 0:
            bad("state_loss_weight", "must be >= 0")
        if self.conv_grad_scale < 0:
            bad("conv_grad_scale", "must be >= 0")
        if self.clip_norm is not None and self.clip_norm <= 0:
            bad("clip_norm", "must be > 0 or null")
        if self.patience is not None and self.patience < 1:
            bad("patience", "must be >= 1 or null")
        if self.amp not in AMP_SETTINGS and str(self.amp).lower() not in ("true", "false"):
            bad("amp", "must be true, false or auto")
        object.__setattr__(self, "betas", tuple(self.betas))


@dataclass
class EpochSampler:
    """Reproducible window order: epoch ``e`` is a permutation seeded by (seed, e) (or a
    weighted draw with replacement when ``weights`` is set), split across ranks.

    Attributes:
        n: Windows in the dataset.
        seed: Run seed.
        rank, world_size: This rank's share is every ``world_size``-th window.
        weights: Per-window sampling weights (steering balancing) or ``None``.
    """

    n: int
    seed: int
    rank: int = 0
    world_size: int = 1
    weights: np.ndarray | None = None
    _cache: tuple[int, np.ndarray] | None = field(default=None, repr=False)

    @property
    def per_rank(self) -> int:
        return self.n // self.world_size

    def order(self, epoch: int) -> np.ndarray:
        """This rank's window indices for ``epoch`` (equal length on every rank)."""
        if self._cache is not None and self._cache[0] == epoch:
            return self._cache[1]
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        if self.weights is not None:
            w = torch.as_tensor(self.weights, dtype=torch.double)
            idx = torch.multinomial(w, self.n, replacement=True, generator=gen)
        else:
            idx = torch.randperm(self.n, generator=gen)
        mine = idx.numpy()[: self.per_rank * self.world_size][self.rank :: self.world_size]
        self._cache = (epoch, mine)
        return mine

    def next_batch(self, state: TrainState, batch: int) -> np.ndarray:
        """The next ``batch`` indices, advancing ``state.epoch``/``epoch_pos``."""
        if state.epoch_pos + batch > self.per_rank:
            state.epoch += 1
            state.epoch_pos = 0
        idx = self.order(state.epoch)[state.epoch_pos : state.epoch_pos + batch]
        state.epoch_pos += batch
        return idx


def weighted_mse(pred: torch.Tensor, target: torch.Tensor, alpha: float) -> torch.Tensor:
    """sum(w * (pred - target)^2) / sum(w) with w = exp(alpha * |target|) (NCP paper)."""
    w = torch.exp(alpha * target.abs())
    return (w * (pred - target).square()).sum() / w.sum()


def lr_factor(tc: TrainConfig, progress: float, step: int) -> float:
    """Learning-rate multiplier at ``progress`` in [0, 1] of the run (and ``step``)."""
    # The warm-up ends after warmup_steps steps or warmup_fraction of the run (steps or
    # wall-clock budget), whichever comes first: a short time budget is not all warm-up.
    warm = 1.0
    if tc.warmup_steps > 0:
        warm = (step + 1) / tc.warmup_steps
        if tc.warmup_fraction > 0:
            warm = max(warm, progress / tc.warmup_fraction)
        warm = min(1.0, warm)
    if tc.schedule == "constant":
        return warm
    if tc.schedule == "step":
        return warm * tc.step_gamma ** (step // tc.step_every)
    p = min(max(progress, 0.0), 1.0)
    return warm * (tc.min_lr_ratio + (1 - tc.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * p)))


class _Standardised(torch.nn.Module):
    """Exposes ``Policy.forward_standardised`` as ``forward`` (what DDP wraps)."""

    def __init__(self, policy: Policy) -> None:
        super().__init__()
        self.policy = policy

    def forward(self, frames: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        if self.policy.has_heads:  # (outputs, state estimate), both standardised
            out = self.policy.forward_heads(frames)
            return out.z, out.state
        return self.policy.forward_standardised(frames)[0]


def state_loss(policy: Policy, state_pred: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """MSE of the standardised state estimate against the state labels, which the trainer
    appends after the k command targets: y (B, T, k + 3)."""
    k = len(policy.output_names)
    zs = (y[..., k:] - policy.state_mean) / policy.state_std  # (B, T, 3)
    return (state_pred - zs).square().mean()


def default_run_dir(task: str = "train") -> Path:
    """``outputs/<task>/runs/<timestamp>`` under the project, as the CLI's run folder."""
    from lnn_drive import PROJECT_ROOT

    return PROJECT_ROOT / "outputs" / task / "runs" / time.strftime("%Y-%m-%d_%H-%M-%S")


def evaluate(
    policy: Policy,
    ds: SequenceDataset,
    *,
    alpha: float,
    batch_size: int,
    info: DistInfo,
    max_windows: int | None = None,
    amp: bool = False,
) -> dict[str, float]:
    """Validation metrics over ``ds`` (split across ranks, summed): ``val/loss`` (the
    training loss), ``val/mse`` and ``val/mae`` in physical units. ``amp``: run the
    encoder under bf16 autocast, as training does (the controller stays float32)."""
    if max_windows is None or max_windows >= len(ds):
        chosen = np.arange(len(ds))
    else:  # spread over the whole set (every held-out episode), not its first windows
        chosen = np.unique(np.linspace(0, len(ds) - 1, max_windows).round().astype(np.int64))
    idx = chosen[info.rank :: info.world_size]
    mean, std = policy.output_mean, policy.output_std
    sums = torch.zeros(5, dtype=torch.float64, device=info.device)  # wsq, w, sq, abs, count
    was_training = policy.training
    policy.eval()
    with torch.no_grad():
        for s in range(0, len(idx), batch_size):
            frames, y = ds.get_batch(idx[s : s + batch_size])
            frames, y = frames.to(info.device), y.to(info.device)
            z = (y[..., : len(policy.output_names)] - mean) / std  # state labels dropped
            with torch.autocast(info.device.type, dtype=torch.bfloat16, enabled=amp):
                pred, _ = policy.forward_standardised(frames)
            pred = pred.float()
            w = torch.exp(alpha * z.abs())
            err = pred - z
            phys = err * std
            sums += torch.stack(
                [
                    (w * err.square()).sum(),
                    w.sum(),
                    phys.square().sum(),
                    phys.abs().sum(),
                    torch.tensor(float(z.numel()), device=info.device),
                ]
            ).double()
    policy.train(was_training)
    all_reduce_sum(sums, info)
    if sums[4] == 0:
        return {}
    return {
        "val/loss": float(sums[0] / sums[1]),
        "val/mse": float(sums[2] / sums[4]),
        "val/mae": float(sums[3] / sums[4]),
    }


def train(
    cfg: TrainConfig | None = None,
    *,
    data: DataConfig | None = None,
    model: ModelConfig | None = None,
    run_dir: str | Path | None = None,
    on_step: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Train a policy by behaviour cloning: the recipe ``scripts/train.py`` runs.

    Args:
        cfg: The optimisation recipe (default: :class:`TrainConfig` defaults, the CLI's).
        data: Which logs and how they become windows (default: ``data/sample``).
        model: Encoder and controller (default: the 19-neuron NCP-CfC).
        run_dir: Where checkpoints, metrics and TensorBoard logs go (default:
            ``outputs/train/runs/<timestamp>``, as on the command line).
        on_step: Called with the step number after every optimiser step (tests use it
            to interrupt a run).

    Returns:
        ``best_checkpoint``, ``last_checkpoint`` (paths), ``val_loss`` (best, or the last
        training loss without a validation set), ``steps``, ``run_dir``, plus
        ``stopped`` (why the loop ended) and ``frames_per_s``.

    Raises:
        ValueError: bad config, naming the key.
        NonFiniteLossError: NaN/inf loss, naming the step; the last good checkpoint stays.
        CheckpointMismatchError: resuming from a checkpoint of another model/config.
    """
    tc = cfg or TrainConfig()
    info = init_distributed(tc.device)
    try:
        run = build_run(
            tc,
            data or DataConfig(),
            model or ModelConfig(),
            Path(broadcast_object(str(run_dir or default_run_dir()), info)),
            info,
        )
        if resume_run(run) is None and tc.init_checkpoint:
            init_weights(run, tc.init_checkpoint)
        return fit(run, on_step)
    finally:
        cleanup(info)


@dataclass(kw_only=True)
class TrainRun:
    """Everything a behaviour-cloning run holds while it trains.

    Attributes:
        tc: The recipe.
        info: This process's rank and device.
        run_dir: Output folder (``checkpoints/``, ``metrics.csv``, TensorBoard).
        split: Training and validation windows.
        policy: The unwrapped policy being trained.
        module: What the optimiser steps through (``policy`` standardised, DDP-wrapped
            under ``torchrun``).
        optimizer: Adam with the conv layers as a group of their own.
        sampler: Reproducible batch order.
        state: Step, epoch, best validation loss (what a checkpoint resumes).
        data_meta: Target statistics and the dataset report, saved in checkpoints.
    """

    tc: TrainConfig
    info: DistInfo
    run_dir: Path
    split: DataSplit
    policy: Policy
    module: torch.nn.Module
    optimizer: torch.optim.Optimizer
    sampler: EpochSampler
    state: TrainState
    data_meta: dict[str, Any]

    @property
    def last_path(self) -> Path:
        return self.run_dir / "checkpoints" / "last.pt"

    @property
    def best_path(self) -> Path:
        return self.run_dir / "checkpoints" / "best.pt"


def build_run(
    tc: TrainConfig, data: DataConfig, model: ModelConfig, run_dir: Path, info: DistInfo
) -> TrainRun:
    """Datasets, policy, optimiser and sampler of a fresh run (nothing trained yet)."""
    tune_allocator()  # keep the step's large buffers in the heap (lnn_drive/train/allocator.py)
    if tc.threads is not None:
        torch.set_num_threads(max(1, int(tc.threads) // info.world_size))
    torch.manual_seed(tc.seed)
    k = len(data.targets)
    if model.state_head is not None:
        from lnn_drive.models.safety import STATE_KEYS

        # the state labels ride along as extra target columns after the k commands
        data = replace(data, targets=(*data.targets, *STATE_KEYS))
    split = build_datasets(data, progress=info.is_main and tc.progress)
    policy = Policy(
        model_cfg=model,
        preprocess=split.preprocess,
        output_names=split.targets[:k],
        units={n: split.units[n] for n in split.targets[:k]},
        target_mean=split.target_mean[:k],
        target_std=split.target_std[:k],
    ).to(info.device)
    if policy.has_heads:
        policy.set_state_stats(split.target_mean[k:], split.target_std[k:])
    conv_params = {id(p) for c in policy.encoder.conv_layers() for p in c.parameters()}
    # Adam normalises away a constant gradient scale, so the paper's down-scaled conv
    # gradients are applied as the conv group's learning-rate factor.
    conv_group = [p for p in policy.parameters() if id(p) in conv_params]
    rest_group = [p for p in policy.parameters() if id(p) not in conv_params]
    optimizer = torch.optim.Adam(
        [
            {"params": rest_group, "lr_scale": 1.0},
            {"params": conv_group, "lr_scale": tc.conv_grad_scale},
        ],
        lr=tc.lr,
        betas=tc.betas,
        weight_decay=tc.weight_decay,
    )
    module: torch.nn.Module = _Standardised(policy)
    if tc.compile:
        policy.encoder.features = torch.compile(policy.encoder.features)  # type: ignore[method-assign]
    if info.distributed:
        from torch.nn.parallel import DistributedDataParallel as DDP

        module = DDP(module, device_ids=[info.device.index] if info.device.type == "cuda" else None)
    sampler = EpochSampler(
        len(split.train),
        tc.seed,
        rank=info.rank,
        world_size=info.world_size,
        weights=split.train.sample_weights,
    )
    if sampler.per_rank < tc.batch_size:
        raise ValueError(
            f"train.batch_size={tc.batch_size} is larger than the {sampler.per_rank} training "
            f"windows per rank; lower train.batch_size or add data"
        )
    return TrainRun(
        tc=tc,
        info=info,
        run_dir=run_dir,
        split=split,
        policy=policy,
        module=module,
        optimizer=optimizer,
        sampler=sampler,
        state=TrainState(),
        data_meta={
            "target_mean": split.target_mean[:k].tolist(),
            "target_std": split.target_std[:k].tolist(),
            "units": {n: split.units[n] for n in split.targets[:k]},
            "report": split.report,
        },
    )


def resume_run(run: TrainRun) -> Path | None:
    """Continue from ``train.resume`` (a path, or ``True``: ``checkpoints/last.pt`` if it
    exists): weights, optimiser and position; returns the checkpoint used."""
    tc = run.tc
    if not tc.resume:
        return None
    path = Path(tc.resume) if isinstance(tc.resume, str) else run.last_path
    if isinstance(tc.resume, str) and not path.is_file():
        raise FileNotFoundError(f"train.resume: no checkpoint at {path}")
    if not path.is_file():
        return None
    ck = load_checkpoint(path, map_location=run.info.device)
    check_compatible(ck, run.policy, path=path)
    run.policy.load_weights(ck["model_state"], source=str(path))
    if ck.get("optimizer") is not None:
        run.optimizer.load_state_dict(ck["optimizer"])
    run.state = TrainState.from_dict(ck["train_state"])
    log.info("resumed from %s at step %d", path, run.state.step)
    return path


def init_weights(run: TrainRun, path: str | Path) -> None:
    """Start a fresh run (step 0, new optimiser and schedule) from the weights of the
    checkpoint at ``path``: a fine-tune, unlike ``train.resume``, which continues a run."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"train.init_checkpoint: no checkpoint at {path}")
    ck = load_checkpoint(path, map_location=run.info.device)
    check_compatible(ck, run.policy, path=path)
    run.policy.load_weights(ck["model_state"], source=str(path))
    log.info("fine-tuning from the weights of %s", path)


@dataclass(frozen=True, kw_only=True)
class StepResult:
    """One optimiser step: its loss, gradient norm and frames (all ranks)."""

    loss: float
    grad_norm: float
    frames: int


def train_step(run: TrainRun, lr: float, last_good: str | None) -> StepResult:
    """One optimiser step at learning rate ``lr`` on the sampler's next batch.

    Raises:
        NonFiniteLossError: NaN/inf loss (``last_good`` is named in the message).
    """
    tc, info, state, policy = run.tc, run.info, run.state, run.policy
    for g in run.optimizer.param_groups:
        g["lr"] = lr * g["lr_scale"]
    idx = run.sampler.next_batch(state, tc.batch_size)
    run.split.train.set_epoch(state.epoch)
    frames, y = run.split.train.get_batch(idx)
    frames = frames.to(info.device, non_blocking=True)
    y = y.to(info.device, non_blocking=True)
    k = len(policy.output_names)
    z = (y[..., :k] - policy.output_mean) / policy.output_std  # (B, T, k) standardised targets
    use_amp = resolve_amp(tc.amp, info.device.type)
    with torch.autocast(info.device.type, dtype=torch.bfloat16, enabled=use_amp):
        pred = run.module(frames)
    state_pred = None
    if isinstance(pred, tuple):  # state head: (outputs, state estimate)
        pred, state_pred = pred
    # with a barrier layer ``pred`` is the filtered command: the loss is on what is executed
    loss = weighted_mse(pred.float(), z, tc.alpha)
    if state_pred is not None and tc.state_loss_weight > 0:
        loss = loss + tc.state_loss_weight * state_loss(policy, state_pred.float(), y)
    if not torch.isfinite(loss):
        raise NonFiniteLossError(
            f"training loss is {loss.item()} at step {state.step + 1}; stopped. "
            + (
                f"Last good checkpoint: {last_good}"
                if last_good
                else "No checkpoint was written yet"
            )
            + " (lower train.lr or set train.clip_norm)"
        )
    run.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if tc.clip_norm is not None:
        grad_norm = float(torch.nn.utils.clip_grad_norm_(policy.parameters(), tc.clip_norm))
    else:
        grad_norm = float(
            torch.linalg.vector_norm(
                torch.stack([p.grad.norm() for p in policy.parameters() if p.grad is not None])
            )
        )
    run.optimizer.step()
    policy.controller.after_step()
    state.step += 1
    return StepResult(
        loss=float(loss.item()),
        grad_norm=grad_norm,
        frames=frames.shape[0] * frames.shape[1] * info.world_size,
    )


def fit(run: TrainRun, on_step: Callable[[int], None] | None = None) -> dict[str, Any]:
    """The training loop: schedule, steps, logging, validation, checkpoints, stopping."""
    tc, info, state, policy = run.tc, run.info, run.state, run.policy
    last_path, best_path = run.last_path, run.best_path
    logger = RunLogger(
        run.run_dir,
        enabled=info.is_main,
        total_steps=tc.max_steps,
        initial_step=state.step,
        progress=tc.progress,
    )
    budget_s = None if tc.max_minutes is None else 60.0 * tc.max_minutes
    t_start = time.perf_counter() - state.elapsed_s
    frames_seen, t_rate = 0, time.perf_counter()
    stopped = "max_steps"
    last_loss = float("nan")
    last_good = str(last_path) if last_path.is_file() else None

    def save(path: Path) -> None:
        if info.is_main:
            state.elapsed_s = time.perf_counter() - t_start
            save_checkpoint(
                path,
                policy=policy,
                optimizer=run.optimizer,
                state=state,
                data=run.data_meta,
                train_cfg=asdict(tc),
            )

    def validate() -> bool:
        """Run validation, keep the best checkpoint; True when early stopping says stop."""
        metrics = evaluate(
            policy,
            run.split.val,
            alpha=tc.alpha,
            batch_size=tc.val_batch_size,
            info=info,
            max_windows=tc.val_max_windows,
            amp=resolve_amp(tc.amp, info.device.type),
        )
        if not metrics:
            return False
        logger.log(state.step, metrics)
        v = metrics["val/loss"]
        if v < state.best_val - tc.min_delta:
            state.best_val, state.best_step, state.bad_evals = v, state.step, 0
            save(best_path)
        else:
            state.bad_evals += 1
        return tc.patience is not None and state.bad_evals >= tc.patience

    policy.train()
    # a run resumed after early stopping stays stopped (its checkpoint kept the count)
    if tc.patience is not None and state.bad_evals >= tc.patience:
        stopped = "early_stopping"
    try:
        while state.step < tc.max_steps and stopped != "early_stopping":
            elapsed = time.perf_counter() - t_start
            if budget_s is not None and info.distributed:
                # rank 0's clock decides, so every rank stops at the same step and uses
                # the same learning rate (clocks drift apart by a few ms per step)
                elapsed = float(broadcast_tensor(torch.tensor([elapsed]), info).item())
            if budget_s is not None and elapsed >= budget_s:
                stopped = "max_minutes"
                break
            progress = state.step / tc.max_steps
            if budget_s is not None:
                progress = max(progress, elapsed / budget_s)
            lr = tc.lr * lr_factor(tc, progress, state.step)
            step = train_step(run, lr, last_good)
            frames_seen += step.frames
            last_loss = step.loss

            if state.step % tc.log_every == 0 or state.step == 1:
                now = time.perf_counter()
                fps = frames_seen / max(now - t_rate, 1e-9)
                frames_seen, t_rate = 0, now
                logger.log(
                    state.step,
                    {
                        "train/loss": last_loss,
                        "train/lr": lr,
                        "train/grad_norm": step.grad_norm,
                        "train/frames_per_s": fps,
                    },
                )
                est_total = None
                if budget_s is not None and progress > 0:
                    # steps the budget will allow at the pace so far
                    est_total = min(tc.max_steps, max(state.step, round(state.step / progress)))
                logger.progress(
                    state.step, {"loss": last_loss, "best_val": state.best_val}, total=est_total
                )
            stop = False
            if state.step % tc.val_every == 0:
                stop = validate()
            if state.step % tc.checkpoint_every == 0:
                save(last_path)
                last_good = str(last_path)
            if on_step is not None:
                on_step(state.step)
            if stop:
                stopped = "early_stopping"
                break
        # Final validation (unless just done) and last checkpoint.
        if state.step % tc.val_every != 0 and stopped != "early_stopping":
            validate()
        save(last_path)
        weight_diff = max_weight_difference(policy, info)
    finally:
        logger.progress(state.step)
        logger.close()

    has_val = math.isfinite(state.best_val)
    if info.is_main and not has_val:
        save(best_path)  # no validation set: the last weights are the best we know
    result = {
        "best_checkpoint": str(best_path),
        "last_checkpoint": str(last_path),
        "val_loss": state.best_val if has_val else last_loss,
        "best_step": state.best_step,
        "steps": state.step,
        "run_dir": str(run.run_dir),
        "stopped": stopped,
        "seconds": time.perf_counter() - t_start,
        "world_size": info.world_size,
        "max_weight_diff_across_ranks": weight_diff,
    }
    if info.is_main:
        import json

        (run.run_dir / "result.json").write_text(json.dumps(result, indent=2))
    return result


def train_summary(result: Mapping[str, Any]) -> str:
    """One line for the console."""
    return (
        f"trained {result['steps']} steps ({result['stopped']}), best val loss "
        f"{result['val_loss']:.4g}; best checkpoint {result['best_checkpoint']}"
    )
