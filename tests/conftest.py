"""Shared fixtures: small datasets written through the real LogWriter, and composed
Hydra configs shrunk for tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from hydra import compose, initialize_config_dir

from lnn_drive import PROJECT_ROOT
from lnn_drive.data import LogWriter

CONF_DIR = str(PROJECT_ROOT / "conf")


def synthetic_frame(rng: np.random.Generator, h: int, w: int, steer: float) -> np.ndarray:
    """A road-like picture whose content depends on ``steer`` (so tests can tell frames apart)."""
    img = np.zeros((h, w, 3), np.uint8)
    img[: h // 3] = (120, 170, 230)  # sky
    img[h // 3 :] = (70, 120, 60)  # grass
    cols = np.arange(w)
    for r in range(h // 3, h):
        centre = w / 2 + steer * 400 * (h - r) / h
        half = 10 + 60 * (r - h // 3) / h
        img[r, np.abs(cols - centre) < half] = (90, 90, 90)
    img += rng.integers(0, 8, img.shape, dtype=np.uint8)
    return img


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
        with initialize_config_dir(version_base="1.3", config_dir=CONF_DIR):
            return compose(
                config_name=name,
                overrides=[
                    f"paths.log_dir={tmp_path}/outputs",
                    f"paths.cache_dir={tmp_path}/cache",
                    f"paths.output_dir={tmp_path}/run",
                    *(overrides or []),
                ],
            )

    return _compose
