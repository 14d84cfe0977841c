"""train.amp: auto turns bf16 autocast on only where bf16 is native."""

from __future__ import annotations

from pathlib import Path

import pytest

from lnn_drive.train.amp import cpu_flags, native_bf16_cpu, resolve_amp
from lnn_drive.train.bc import TrainConfig

AVX2 = {"fpu", "sse2", "avx", "avx2", "fma"}
AVX512_BF16 = AVX2 | {"avx512f", "avx512bw", "avx512_bf16", "avx512_vnni"}
SAPPHIRE = AVX2 | {"avx512f", "amx_tile", "amx_bf16"}


def test_auto_follows_native_bf16() -> None:
    assert resolve_amp("auto", "cpu", flags=AVX512_BF16) is True
    assert resolve_amp("auto", "cpu", flags=SAPPHIRE) is True
    assert resolve_amp("auto", "cpu", flags=AVX2) is False
    assert resolve_amp("auto", "cpu", flags=AVX2 | {"avx512f"}) is False  # AVX-512 without bf16
    assert native_bf16_cpu(set()) is False
    # explicit settings win over detection
    assert resolve_amp(True, "cpu", flags=AVX2) is True
    assert resolve_amp(False, "cpu", flags=AVX512_BF16) is False
    assert resolve_amp("false", "cpu", flags=AVX512_BF16) is False
    with pytest.raises(ValueError, match="train.amp"):
        resolve_amp("fp16", "cpu")


def test_cpu_flags_parse(tmp_path: Path) -> None:
    f = tmp_path / "cpuinfo"
    f.write_text("processor\t: 0\nflags\t\t: fpu avx2 avx512_bf16\n\nprocessor\t: 1\nflags : x\n")
    assert cpu_flags(str(f)) == {"fpu", "avx2", "avx512_bf16"}
    assert cpu_flags(str(tmp_path / "missing")) == set()


def test_train_config_accepts_auto_and_rejects_others() -> None:
    assert TrainConfig().amp == "auto"
    TrainConfig(amp=True)
    with pytest.raises(ValueError, match="train.amp"):
        TrainConfig(amp="bf16")
