"""Run behaviour cloning in several local processes (DDP over gloo), from Python.

``torchrun --standalone --nproc_per_node N scripts/train.py ...`` is the command-line way;
:func:`train_local` does the same from inside a program (the demo, the benchmark): it
spawns ``nproc`` processes on this machine with one torch thread each, sets the variables
torchrun would set, runs :func:`lnn_drive.train.bc.train` in each and returns rank 0's
result.

Why: on small CPUs one training process does not use two cores well (intra-op threading
of the small conv layers scales poorly; measured on the project machine, 2 threads gave
about the frames/s of 1), while two single-threaded data-parallel ranks nearly double
throughput. See ``docs/benchmarks.md`` (Training).
"""

from __future__ import annotations

import dataclasses
import os
import socket
from pathlib import Path
from typing import Any

from lnn_drive.data.dataset import DataConfig
from lnn_drive.models.config import ModelConfig
from lnn_drive.train.bc import TrainConfig, default_run_dir


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _worker(
    rank: int,
    world: int,
    port: int,
    job: tuple[TrainConfig, DataConfig, ModelConfig, str],
    threads: int,
    queue: Any,
) -> None:
    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        RANK=str(rank),
        LOCAL_RANK=str(rank),
        WORLD_SIZE=str(world),
        LOCAL_WORLD_SIZE=str(world),
    )
    import torch

    torch.set_num_threads(threads)
    from lnn_drive.train.bc import train

    tc, data, model, run_dir = job
    tc = dataclasses.replace(tc, threads=threads * world)  # train() splits them across ranks
    try:
        result = train(tc, data=data, model=model, run_dir=run_dir)
    except BaseException as e:  # report the failure to the parent, then fail this rank
        if rank == 0:
            queue.put({"error": f"{type(e).__name__}: {e}"})
        raise
    if rank == 0:
        queue.put(result)


def train_local(
    cfg: TrainConfig | None = None,
    *,
    data: DataConfig | None = None,
    model: ModelConfig | None = None,
    run_dir: str | Path | None = None,
    nproc: int = 2,
    threads_per_proc: int = 1,
) -> dict[str, Any]:
    """:func:`~lnn_drive.train.bc.train` as ``nproc`` data-parallel local processes;
    rank 0's result.

    ``cfg.batch_size`` stays per rank (as under torchrun): the global batch is ``nproc``
    times larger. ``nproc=1`` runs in this process.
    """
    if nproc < 1:
        raise ValueError(f"nproc must be >= 1, got {nproc}")
    if threads_per_proc < 1:
        raise ValueError(f"threads_per_proc must be >= 1, got {threads_per_proc}")
    from lnn_drive.train.bc import train

    job = (
        cfg or TrainConfig(),
        data or DataConfig(),
        model or ModelConfig(),
        str(run_dir or default_run_dir()),
    )
    if nproc == 1:
        return train(job[0], data=job[1], model=job[2], run_dir=job[3])
    import torch.multiprocessing as mp

    ctx = mp.get_context("spawn")
    queue = ctx.SimpleQueue()
    mp.start_processes(
        _worker,
        args=(nproc, _free_port(), job, threads_per_proc, queue),
        nprocs=nproc,
        join=True,
        start_method="spawn",
    )
    result = queue.get()
    if "error" in result:
        raise RuntimeError(f"training rank 0 failed: {result['error']}")
    return result
