"""Keep freed memory inside a training process (glibc), so that each step reuses the pages the previous step
freed instead of faulting fresh ones in.

glibc's malloc serves a block above its mmap threshold with a fresh mapping and unmaps it when freed; the
threshold follows the largest block freed so far but stops at 32 MiB, and the heap's free top goes back to
the system once it passes the trim threshold (twice the mmap threshold). A training step allocates and frees
the same activations every step, so under those defaults the larger ones fault their pages in again on
every step, in the kernel. Cascade-guided AT on ml-1m (L 200), which keeps two encoder passes' activations
alive at once, paid for that most (session 15, base and adv_cas steps interleaved on one batch stream, three
process pairs alternated): adv_cas steps cost 1.97-2.11x a base step of GRU4Rec with glibc's defaults and
1.75-1.88x with the thresholds below, SASRec 1.98x and 1.90-1.92x, with base steps unchanged within this
VM's noise; minor page faults over one such run fell from 1.3 M to 0.4 M.

The price is memory: the process keeps its peak heap (it reaches that peak again on the next step anyway).
:func:`training.trainer.train` calls :func:`keep_freed_memory` on CPU. A process started with
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
TRIM_THRESHOLD = 2**30  # the heap keeps up to 1 GiB of freed top (a step's activations on ml-1m: ~0.5 GB)
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
