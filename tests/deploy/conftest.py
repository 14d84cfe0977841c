"""Fixtures for the deploy tests: small policies of every controller type, exported once."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from lnn_drive.data import Preprocess
from lnn_drive.models import CONTROLLERS, Policy
from tests.models.test_models import model_cfg

#: Small model geometry: the export does not depend on it and the tests run faster.
H, W = 40, 96


def small_policy(name: str, *, seed: int = 0) -> Policy:
    """A policy of config ``conf/model/<name>.yaml`` with outputs on a unit scale
    (target std 10: an untrained model's actions are then O(0.1), not O(0.001))."""
    torch.manual_seed(seed)
    return Policy(
        model_cfg=model_cfg(name),
        preprocess=Preprocess(height=H, width=W).with_input(H, W),
        output_names=["steering"],
        units={"steering": "1/m"},
        target_mean=[0.05],
        target_std=[10.0],
    ).eval()


def frame_sequence(n: int, *, seed: int = 0) -> np.ndarray:
    """A smooth-ish uint8 sequence (N, 3, H, W): a drifting bright band over noise."""
    rng = np.random.default_rng(seed)
    out = rng.integers(0, 60, (n, 3, H, W), dtype=np.uint8)
    cols = np.arange(W)
    for i in range(n):
        c = W / 2 + 20 * np.sin(i / 9)
        out[i, :, H // 3 :, np.abs(cols - c) < 12] += 150
    return out


@pytest.fixture(scope="session")
def exported(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Policy, Path]]:
    """Every controller type exported once to fp32 ONNX: name -> (policy, path)."""
    from lnn_drive.deploy.export import export_policy

    root = tmp_path_factory.mktemp("onnx")
    out = {}
    for name in sorted(CONTROLLERS):
        p = small_policy(name)
        out[name] = (p, export_policy(p, root / f"{name}.onnx"))
    return out


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    """One intra-op thread: these models are tiny, and on a loaded shared machine a second
    thread waiting for a core makes every convolution ~10x slower."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
