"""Device choice: CUDA when present, never required."""

from __future__ import annotations

import torch

__all__ = ["pick_device"]


def pick_device(requested: str = "auto") -> torch.device:
    """``auto`` -> CUDA when available else CPU; an explicit ``cuda`` without a GPU is an error."""
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if requested.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError("device 'cuda' requested but no CUDA device is available; use 'auto' or 'cpu'")
    return torch.device(requested)
