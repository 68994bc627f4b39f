"""Device choice: CUDA when present, never required."""

from __future__ import annotations

import torch

from training.allocator import keep_freed_memory

__all__ = ["pick_device", "training_device"]


def pick_device(requested: str = "auto") -> torch.device:
    """``auto`` -> CUDA when available else CPU; an explicit ``cuda`` without a GPU is an error."""
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if requested.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError("device 'cuda' requested but no CUDA device is available; use 'auto' or 'cpu'")
    return torch.device(requested)


def training_device(requested: str = "auto") -> torch.device:
    """The device a training loop runs on (:func:`pick_device`); on CPU the process also keeps the memory one
    step frees for the next (:func:`training.allocator.keep_freed_memory`)."""
    device = pick_device(requested)
    if device.type == "cpu":
        keep_freed_memory()
    return device
