"""``train.amp``: when bf16 autocast is used.

bf16 autocast roughly doubles CPU training throughput on CPUs with native bf16
arithmetic (AVX-512-bf16 or AMX) and on GPUs, but is ~10x *slower* on AVX2-only CPUs,
which emulate it (``docs/benchmarks.md``). ``amp: auto`` therefore turns it on only where
it is native.
"""

from __future__ import annotations

from pathlib import Path

import torch

AMP_SETTINGS = (True, False, "auto")


def cpu_flags(path: str = "/proc/cpuinfo") -> set[str]:
    """The CPU feature flags of the first processor listed in ``path`` (empty if unknown)."""
    try:
        text = Path(path).read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith(("flags", "Features")):
            return set(line.split(":", 1)[1].split())
    return set()


def native_bf16_cpu(flags: set[str] | None = None) -> bool:
    """Whether the CPU does bf16 arithmetic natively (AVX-512-bf16, AMX-bf16).

    Args:
        flags: CPU flags to decide from (default: torch's own probe, then /proc/cpuinfo).
    """
    if flags is None:
        probe = getattr(torch.cpu, "_is_avx512_bf16_supported", None)
        amx = getattr(torch.cpu, "_is_amx_tile_supported", None)
        if probe is not None and (probe() or (amx is not None and amx())):
            return True
        flags = cpu_flags()
    return bool({"avx512_bf16", "amx_bf16"} & flags)


def resolve_amp(setting: bool | str, device_type: str, *, flags: set[str] | None = None) -> bool:
    """``train.amp`` (``true``, ``false`` or ``auto``) -> whether to autocast to bf16 on
    ``device_type`` (``cpu`` or ``cuda``).

    Raises:
        ValueError: another setting.
    """
    if isinstance(setting, str) and setting.lower() in ("true", "false"):
        setting = setting.lower() == "true"
    if setting is True or setting is False:
        return setting
    if setting != "auto":
        raise ValueError(f"train.amp must be true, false or auto, got {setting!r}")
    if device_type == "cuda":
        return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    return native_bf16_cpu(flags)
