"""glibc allocator tuning at training start."""

from __future__ import annotations

import ctypes.util
import subprocess
import sys

import pytest


def _run(code: str, **env: str) -> str:
    import os

    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **env},
    )
    return out.stdout.strip()


CODE = "from lnn_drive.train.allocator import tune_allocator as t; print(t(), t())"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc only")
def test_tune_allocator_applies_once_on_glibc() -> None:
    if ctypes.util.find_library("c") is None:
        pytest.skip("no libc found")
    assert _run(CODE) == "True True"


def test_tune_allocator_can_be_switched_off() -> None:
    assert _run(CODE, LNN_DRIVE_MALLOC_TUNING="0") == "False False"
