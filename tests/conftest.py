"""Shared fixtures: small datasets written through the real LogWriter, and composed
Hydra configs (through the command layer's ``compose``) shrunk for tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from lnn_drive.commands.config import compose
from lnn_drive.data import LogWriter
from lnn_drive.data.synthetic import synthetic_frame

__all__ = ["synthetic_frame"]  # tests import it from here too


@pytest.fixture
def make_dataset(tmp_path: Path) -> Callable[..., Path]:
    """Write a dataset of ``lengths`` episodes; steering ramps so windows are traceable:
    frame j of episode e has steering ``e + j / 1000``."""

    def make(
        lengths: tuple[int, ...] = (40, 30, 50),
        *,
        name: str = "ds",
        h: int = 78,
        w: int = 200,
        encoding: str = "ffv1",
        groups: tuple[str, ...] | None = None,
        still_from: int | None = None,
    ) -> Path:
        rng = np.random.default_rng(0)
        root = tmp_path / name
        with LogWriter(
            root,
            height=h,
            width=w,
            fps=30,
            signals={"steering": "1/m", "speed": "m/s"},
            source="test",
            encoding=encoding,
        ) as log:
            for e, n in enumerate(lengths):
                meta = {"group": groups[e]} if groups else {}
                with log.episode(meta=meta) as ep:
                    frame = None
                    for j in range(n):
                        if frame is None or still_from is None or j < still_from:
                            frame = synthetic_frame(rng, h, w, 0.05 * np.sin(j / 7 + e))
                        ep.append(frame, timestamp=j / 30, steering=e + j / 1000, speed=10.0)
        return root

    return make


@pytest.fixture
def compose_cfg(tmp_path: Path) -> Callable[..., object]:
    """Compose a top-level config with test-friendly overrides (outputs and caches in tmp)."""

    def _compose(name: str, overrides: list[str] | None = None):
        job, _ = compose(
            name,
            [
                f"paths.log_dir={tmp_path}/outputs",
                f"paths.cache_dir={tmp_path}/cache",
                f"paths.output_dir={tmp_path}/run",
                *(overrides or []),
            ],
        )
        return job

    return _compose


@pytest.fixture
def run_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Callable[..., tuple]:
    """``run_command([command, *overrides])`` through the dispatcher, in-process, with the
    Hydra run folder under ``tmp_path``; returns (exit status, stdout, stderr)."""
    from lnn_drive.commands import main

    def run(argv: list[str]) -> tuple[int, str, str]:
        code = main([argv[0], f"hydra.run.dir={tmp_path / 'run'}", *argv[1:]])
        out = capsys.readouterr()
        return code, out.out, out.err

    return run
