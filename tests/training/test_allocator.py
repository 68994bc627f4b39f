"""training.allocator: glibc keeps freed memory for the next step, unless told not to."""

from __future__ import annotations

import platform
import subprocess
import sys
import textwrap

import pytest
import torch

from training import device
from training.allocator import SWITCH, keep_freed_memory

glibc_linux = pytest.mark.skipif(
    not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc", reason="mallopt thresholds are glibc's"
)

# allocate, fill and free a 48 MiB block ten times (above glibc's 32 MiB mmap ceiling); print the minor faults
_FAULTS = textwrap.dedent(
    """
    import resource, sys
    import numpy as np
    from training.allocator import keep_freed_memory
    if sys.argv[1] == "keep":
        assert keep_freed_memory()
    np.ones(48 << 20, np.uint8)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(10):
        np.ones(48 << 20, np.uint8)
    print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
    """
)


def _faults(mode: str) -> int:
    env = {"PATH": "/usr/bin:/bin"}  # no MALLOC_* or GLIBC_TUNABLES from the caller
    out = subprocess.run([sys.executable, "-c", _FAULTS, mode], capture_output=True, text=True, env=env, check=True)
    return int(out.stdout.strip())


@glibc_linux
def test_kept_memory_is_reused_without_faulting_its_pages_in_again() -> None:
    default, kept = _faults("default"), _faults("keep")
    # glibc's defaults map and unmap the block every time; kept, the heap serves it again from resident pages
    assert kept * 3 < default, (kept, default)


def test_the_switch_and_the_callers_own_malloc_settings_leave_the_allocator_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(SWITCH, "0")
    assert keep_freed_memory() is False
    monkeypatch.delenv(SWITCH)
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "131072")
    assert keep_freed_memory() is False


def test_a_training_loop_on_cpu_keeps_freed_memory_and_on_cuda_does_not(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[bool] = []
    monkeypatch.setattr(device, "keep_freed_memory", lambda: calls.append(True) or True)
    assert device.training_device("cpu").type == "cpu"
    assert calls == [True]
    monkeypatch.setattr(device, "pick_device", lambda requested: torch.device("cuda"))
    device.training_device("auto")
    assert calls == [True]
