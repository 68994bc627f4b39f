"""APT as FINEST adapts it for sequential models (FINEST Sec. 6.1; Wu et al., APT, 2021; the fake users
from Yue et al.'s data-free model extraction, FINEST's [63]).

APT fine-tunes a recommender on training data poisoned with fake user profiles. FINEST replaces APT's
profile generator (built for matrix factorisation) with the data-free one and, to fit its perturbation
setting, (1) finds the real users most similar to each fake profile and (2) inserts the profile's items
into their sequences, or deletes or replaces their interactions. Every epoch here:

1. fake profiles from the model being tuned: a random first item, then each next item drawn uniformly from
   the model's top-k for the profile so far (items already in it excluded); a time-aware model reads them
   one second apart;
2. each profile's nearest real user by Jaccard similarity of item sets;
3. ``edits`` of that user's interactions, each deleted, replaced by one of the profile's items, or preceded
   by one (equal odds), so that about ``sample_ratio`` of all interactions change, as FINEST's R;
4. one epoch of the model's own loss on the perturbed data (FINEST's loop without its regulariser).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch

from steadyrec.core.interactions import InteractionLog
from steadyrec.core.methods import AptConfig
from training.data.matrix import user_item_matrix
from training.methods.finest import OPERATIONS, FinestEpoch, FinestResult, Simulation, finest_finetune
from training.models.base import SequentialModel
from training.perturbation import apply_operations

__all__ = ["AptConfig", "apt_finetune", "apt_simulation", "fake_profiles", "nearest_users"]


@torch.no_grad()
def fake_profiles(model: SequentialModel, n: int, length: int, top_k: int, rng: np.random.Generator) -> np.ndarray:
    """Step 1: (n, length) internal ids, each row a profile built item by item from the model's top-k."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    profiles = np.zeros((n, length), dtype=np.int64)
    profiles[:, 0] = rng.integers(1, model.n_items + 1, n)
    k = min(top_k, model.n_items - length)  # every profile item is new to it, so k candidates always remain
    try:
        for step in range(1, length):
            width = min(step, model.max_len)
            history = torch.zeros((n, model.max_len), dtype=torch.long)
            history[:, -width:] = torch.from_numpy(profiles[:, step - width : step])
            times = torch.arange(model.max_len).expand(n, -1) * (history > 0) if model.uses_time else None
            scores = model.scores(history.to(device), None if times is None else times.to(device)).float()  # (n, N)
            rows = torch.arange(n)[:, None]
            scores[rows, torch.from_numpy(profiles[:, :step] - 1).to(device)] = float("-inf")
            top = torch.topk(scores, k, dim=1).indices.cpu().numpy() + 1  # (n, k)
            profiles[:, step] = top[np.arange(n), rng.integers(0, k, n)]
    finally:
        model.train(was_training)
    return profiles


def nearest_users(profiles: np.ndarray, data: InteractionLog) -> np.ndarray:
    """Step 2: (P, length) profiles -> (P,) index of the user whose item set is most like each (Jaccard)."""
    users = user_item_matrix(data.sequences, data.n_items)  # (U, N) binary
    fakes = user_item_matrix(list(profiles), data.n_items)  # (P, N) binary
    overlap = (fakes @ users.T).toarray()  # (P, U)
    union = np.asarray(fakes.sum(1)) + np.asarray(users.sum(1)).T - overlap  # (P, U)
    return np.argmax(overlap / np.maximum(union, 1.0), axis=1)


def apt_simulation(model: SequentialModel, config: AptConfig) -> Simulation:
    """Steps 1-3 as the FINEST loop's per-epoch simulation, from ``model`` as it is at each epoch."""

    def simulate(
        data: InteractionLog, ratio: float, rng: np.random.Generator
    ) -> tuple[InteractionLog, list[np.ndarray], int]:
        total = max(1, round(ratio * data.n_interactions))
        length = min(config.profile_length, model.n_items - 1)
        profiles = fake_profiles(model, math.ceil(total / config.edits), length, config.top_k, rng)
        chosen: list[tuple[int, int]] = []
        items: list[int] = []
        for profile, user in zip(profiles, nearest_users(profiles, data), strict=True):
            positions = rng.choice(
                len(data.sequences[user]), min(config.edits, len(data.sequences[user])), replace=False
            )
            chosen += [(int(user), int(t)) for t in positions]
            items += rng.choice(profile, len(positions)).tolist()
        operations = [OPERATIONS[j] for j in rng.integers(0, len(OPERATIONS), len(chosen))]
        result = apply_operations(data, chosen, operations, items)
        return result.log, list(result.origins), len(chosen)

    return simulate


def apt_finetune(
    model: SequentialModel,
    data: InteractionLog,
    config: AptConfig,
    *,
    on_epoch: Callable[[FinestEpoch], None] | None = None,
) -> FinestResult:
    """Fine-tune ``model`` in place with APT (step 4 in FINEST's loop, no reference lists needed)."""
    return finest_finetune(
        model, data, model, config.finest_config(), on_epoch=on_epoch, simulation=apt_simulation(model, config)
    )
