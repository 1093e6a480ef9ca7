"""Keep freed host memory in the process, so XLA:CPU steps stop re-faulting their buffers.

XLA:CPU allocates an executable's temporaries as one block per execution with ``malloc``
(about 290 MB for a DCGAN-64 training step at batch 64). glibc serves a block that large with
``mmap`` and hands it back with ``munmap`` when it is freed; from XLA's worker threads it even
falls back to ``mmap`` when told not to use it, because a thread's own arena cannot grow past
64 MB. So every step maps fresh zeroed pages and faults on each of them. Measured on the 2-core
CI machine (``benchmarks/step_throughput.py``, per training iteration):

    DCGAN-64   70,900 page faults, 166 ms of system time  ->  0-3,600 faults, 5-10 ms
    DCGAN-28   10,200 page faults,  21 ms of system time  ->  0-240 faults,    1-2 ms

:func:`keep_freed_memory` sets glibc's ``mallopt`` so that every thread allocates from the main
heap (``M_ARENA_MAX`` 1), nothing is ``mmap``-ed (``M_MMAP_MAX`` 0) and the heap is never
trimmed (``M_TRIM_THRESHOLD`` 2 GiB): the next step reuses the pages the previous one freed.
The price is the usual one of a caching allocator: the process keeps its peak host memory
until it exits. ``config.train.host_memory='release'`` leaves glibc's defaults in place.

Call it before JAX starts its CPU threads (a thread that has already allocated keeps its own
arena); ``jgan.train.setup_process`` does so. Other C libraries (musl, macOS) are left alone.
"""
from __future__ import annotations

import ctypes
import platform
import sys

# glibc's <malloc.h>
_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
_M_ARENA_MAX = -8
_SETTINGS = ((_M_ARENA_MAX, 1), (_M_MMAP_MAX, 0), (_M_TRIM_THRESHOLD, 2**31 - 1))

_applied = False


def supported() -> bool:
    """Whether this process runs on glibc (the only C library whose ``mallopt`` this sets)."""
    return sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"


def keep_freed_memory() -> bool:
    """Set the glibc policy described in the module docstring (idempotent).

    Returns:
      True if the policy is in effect, False where it cannot be set (not glibc, or a
      ``mallopt`` call refused).
    """
    global _applied
    if _applied:
        return True
    if not supported():
        return False
    mallopt = getattr(ctypes.CDLL(None), "mallopt", None)
    if mallopt is None:
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    _applied = all(mallopt(param, value) == 1 for param, value in _SETTINGS)
    return _applied
