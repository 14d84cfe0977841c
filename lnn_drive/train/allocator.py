"""glibc allocator tuning for CPU training.

By default glibc serves every allocation above a (dynamic) threshold of at most 32 MiB
with a fresh ``mmap`` and returns it with ``munmap`` when freed, and it trims the heap
top back to the kernel whenever more than 128 KiB is free there. A training step
allocates and frees the same few large activation and gradient buffers (MiB each) every
step, so each step page-faults them in again (the kernel zeroes every new page). Raising
the mmap threshold to its maximum and the trim threshold far above a step's working set
keeps those buffers in the heap, reused from step to step.

``tune_allocator()`` does that once per process through ``mallopt`` (a no-op where libc
is not glibc, e.g. macOS or musl); set ``LNN_DRIVE_MALLOC_TUNING=0`` to leave the
allocator alone.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

#: glibc's ``mallopt`` parameters (malloc.h).
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
#: glibc caps the mmap threshold at HEAP_MAX / 2 = 32 MiB on 64-bit systems.
MMAP_THRESHOLD_BYTES = 32 * 1024 * 1024
#: Keep up to 1 GiB free at the heap top instead of returning it after every step.
TRIM_THRESHOLD_BYTES = 1024 * 1024 * 1024

_done: bool | None = None


def tune_allocator() -> bool:
    """Raise glibc's mmap and trim thresholds for this process (once).

    Returns:
        Whether both settings were applied (``False`` without glibc or when disabled
        by ``LNN_DRIVE_MALLOC_TUNING=0``).
    """
    global _done
    if _done is not None:
        return _done
    _done = False
    if os.environ.get("LNN_DRIVE_MALLOC_TUNING", "1") == "0":
        return False
    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
        libc.gnu_get_libc_version  # noqa: B018 (glibc only: raises elsewhere)
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    ok = mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES) == 1
    ok = mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES) == 1 and ok
    _done = ok
    return ok
