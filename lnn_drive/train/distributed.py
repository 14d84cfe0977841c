"""Distributed data parallel set-up on torch's own engine (``torchrun`` + DDP).

``torchrun --nproc_per_node N scripts/train.py ...`` sets ``WORLD_SIZE``/``RANK``/
``LOCAL_RANK``; :func:`init_distributed` then joins the process group (NCCL on GPUs, gloo
on CPU). Without those variables everything runs as a single process.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    """This process's place in the job.

    Attributes:
        rank, world_size, local_rank: As set by torchrun (0, 1, 0 when not distributed).
        device: The device this rank trains on.
        backend: ``nccl``, ``gloo`` or ``None`` (single process).
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")
    backend: str | None = None

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def pick_device(pref: str = "auto", local_rank: int = 0) -> torch.device:
    """``auto``: CUDA (this rank's GPU) if available, else CPU."""
    if pref not in ("auto", "cpu", "cuda"):
        raise ValueError(f"train.device must be auto, cpu or cuda, got {pref!r}")
    if pref == "cuda" and not torch.cuda.is_available():
        raise ValueError("train.device=cuda but no CUDA device is available")
    if pref != "cpu" and torch.cuda.is_available():
        return torch.device("cuda", local_rank % torch.cuda.device_count())
    return torch.device("cpu")


def init_distributed(device: str = "auto") -> DistInfo:
    """Join the torchrun process group if launched by torchrun, else a single process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo(device=pick_device(device))
    rank = int(os.environ["RANK"])
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    dev = pick_device(device, local_rank)
    backend = "nccl" if dev.type == "cuda" else "gloo"
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    if not dist.is_initialized():
        dist.init_process_group(backend=backend)
    return DistInfo(rank=rank, world_size=world, local_rank=local_rank, device=dev, backend=backend)


def cleanup(info: DistInfo) -> None:
    """Leave the process group (no-op for a single process)."""
    if info.distributed and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def all_reduce_sum(t: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """Sum ``t`` over ranks, in place; returns it."""
    if info.distributed:
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t


def broadcast_tensor(t: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """Rank 0's ``t`` on every rank, in place (a CPU tensor is moved for NCCL and back)."""
    if not info.distributed:
        return t
    moved = t.to(info.device)
    dist.broadcast(moved, src=0)
    return moved.to(t.device)


def broadcast_object(obj: Any, info: DistInfo) -> Any:
    """Rank 0's ``obj`` on every rank."""
    if not info.distributed:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def max_weight_difference(module: torch.nn.Module, info: DistInfo) -> float:
    """Largest |difference| between this rank's parameters and any other rank's (0.0 when
    the replicas are in sync, as DDP guarantees)."""
    flat = torch.cat([p.detach().reshape(-1).float() for p in module.parameters()])
    if not info.distributed:
        return 0.0
    flat = flat.to(info.device)
    gathered = [torch.empty_like(flat) for _ in range(info.world_size)]
    dist.all_gather(gathered, flat)
    return float(max((g - flat).abs().max().item() for g in gathered))
