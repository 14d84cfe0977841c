"""Run a ``scripts/*.py`` Hydra entry point in this process (no interpreter start-up, no
torch re-import), the way a user's shell would, and capture its exit status and output."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

import pytest

from lnn_drive import PROJECT_ROOT


def run_script(
    script: str, overrides: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str, str]:
    """Returns (exit status, stdout, stderr); Hydra's run folder goes under ``tmp_path``."""
    argv = [script, *overrides, f"hydra.run.dir={tmp_path / 'hydra_run'}"]
    old = sys.argv
    sys.argv = argv
    code = 0
    try:
        runpy.run_path(str(PROJECT_ROOT / "scripts" / script), run_name="__main__")
    except SystemExit as e:
        code = int(e.code or 0)
    finally:
        sys.argv = old
    out = capsys.readouterr()
    return code, out.out, out.err
