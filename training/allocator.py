"""Keep freed memory inside a training process (glibc), so that each step reuses the pages the previous step
freed instead of faulting fresh ones in.

glibc's malloc serves a block above its mmap threshold with a fresh mapping and unmaps it when freed; the
threshold follows the largest block freed so far but stops at 32 MiB, and the heap's free top goes back to
the system once it passes the trim threshold (twice the mmap threshold). A training step allocates and frees
the same activations every step, so under those defaults the larger ones fault their pages in again on
every step, in the kernel. The price is memory kept between steps, but a training step reaches the same
peak again anyway (measured costs and peaks: docs/methods.md, "Training on CPU").

Every training loop (the trainer's, FINEST's, LARM's) takes its device from
:func:`training.device.training_device`, which calls :func:`keep_freed_memory` on CPU. A process started with
``STEADYREC_KEEP_FREED_MEMORY=0``, or whose environment sets glibc's malloc knobs itself
(``MALLOC_MMAP_THRESHOLD_``, ``MALLOC_TRIM_THRESHOLD_``, ``GLIBC_TUNABLES``), is left alone, and so is any
C library without ``mallopt``.
"""

from __future__ import annotations

import ctypes
import logging
import os
import sys

__all__ = ["MMAP_THRESHOLD", "SWITCH", "TRIM_THRESHOLD", "keep_freed_memory"]

log = logging.getLogger(__name__)

M_TRIM_THRESHOLD = -1  # mallopt's parameter numbers (malloc.h)
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 256 * 2**20  # blocks up to 256 MiB come from the heap (ml-1m's doubled attention: 41 MB)
TRIM_THRESHOLD = 2**30  # the heap keeps up to 1 GiB of freed top (more than one ml-1m step frees)
SWITCH = "STEADYREC_KEEP_FREED_MEMORY"  # "0" leaves the allocator alone
_ENVIRONMENT = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "GLIBC_TUNABLES")


def keep_freed_memory() -> bool:
    """Raise glibc's mmap and trim thresholds for the rest of this process; True when they were set.

    Nothing changes (False) with ``STEADYREC_KEEP_FREED_MEMORY=0``, off Linux, on a C library without
    ``mallopt`` (musl's is a stub that refuses), or where the environment already configures glibc's malloc.
    """
    if os.environ.get(SWITCH, "1").strip().lower() in {"0", "false", "no", "off"}:
        return False
    if not sys.platform.startswith("linux") or any(name in os.environ for name in _ENVIRONMENT):
        return False
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    done = bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
    log.debug("glibc malloc keeps freed memory: %s", done)
    return done
