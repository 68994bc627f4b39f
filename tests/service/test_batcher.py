"""The micro-batcher on its own: batching, per-request rows, failures and shutdown."""

from __future__ import annotations

import asyncio
import threading

import numpy as np
import pytest

from service.batcher import MicroBatcher
from service.errors import NotReady
from service.metrics import Metrics

pytestmark = pytest.mark.anyio


class GatedModel:
    """Scores each history as [sum, first id]; the first call waits until the test opens the gate."""

    version = "gated"
    uses_time = False

    def __init__(self, fail: bool = False) -> None:
        self.gate = threading.Event()
        self.started = threading.Event()
        self.batches: list[int] = []
        self.fail = fail

    def score(self, histories: np.ndarray, times: np.ndarray | None = None) -> np.ndarray:  # (B, L) -> (B, 2)
        self.started.set()
        self.gate.wait(5)
        self.batches.append(len(histories))
        if self.fail:
            raise ValueError("model exploded")
        return np.stack([histories.sum(1), histories[:, 0]], axis=1).astype(np.float32)


async def behind_a_running_call(
    model: GatedModel, histories: list[np.ndarray], max_batch_size: int = 8
) -> tuple[MicroBatcher, asyncio.Future[np.ndarray], list[asyncio.Future[np.ndarray]]]:
    """A running batcher whose first call ([1, 1]) blocks while ``histories`` queue behind it; then the
    gate opens. Returns the batcher, the first request and the queued ones."""
    batcher = MicroBatcher(Metrics(), max_batch_size=max_batch_size)
    batcher.start()
    first = asyncio.ensure_future(batcher.score(model, np.array([1, 1])))  # type: ignore[arg-type]
    await asyncio.to_thread(model.started.wait, 5)  # the first call is running; the rest queue up
    rest = [asyncio.ensure_future(batcher.score(model, h)) for h in histories]  # type: ignore[arg-type]
    await asyncio.sleep(0.05)
    model.gate.set()
    return batcher, first, rest


async def test_requests_queued_during_a_call_share_the_next_call_and_get_their_own_rows() -> None:
    model = GatedModel()
    batcher, first, rest = await behind_a_running_call(model, [np.array([i, 10]) for i in range(2, 7)])
    rows = await asyncio.gather(first, *rest)
    await batcher.stop()
    assert model.batches == [1, 5]
    assert [row.tolist() for row in rows] == [[2, 1]] + [[i + 10, i] for i in range(2, 7)]


async def test_max_batch_size_splits_a_long_queue() -> None:
    model = GatedModel()
    batcher, first, rest = await behind_a_running_call(model, [np.array([i, 0]) for i in range(5)], max_batch_size=2)
    await asyncio.gather(first, *rest)
    await batcher.stop()
    assert model.batches == [1, 2, 2, 1]


async def test_a_failing_call_fails_only_its_requests_and_the_batcher_goes_on() -> None:
    bad, good = GatedModel(fail=True), GatedModel()
    bad.gate.set()
    good.gate.set()
    batcher = MicroBatcher(Metrics())
    batcher.start()
    with pytest.raises(ValueError, match="model exploded"):
        await batcher.score(bad, np.array([1, 2]))  # type: ignore[arg-type]
    row = await batcher.score(good, np.array([1, 2]))  # type: ignore[arg-type]
    await batcher.stop()
    assert row.tolist() == [3, 1]


async def test_after_stop_new_requests_are_refused_as_not_ready() -> None:
    batcher = MicroBatcher(Metrics())
    batcher.start()
    await batcher.stop()
    with pytest.raises(NotReady, match="not running"):
        await batcher.score(GatedModel(), np.array([1]))  # type: ignore[arg-type]


async def test_the_event_loop_stays_free_while_a_call_runs() -> None:
    model = GatedModel()
    batcher = MicroBatcher(Metrics())
    batcher.start()
    pending = asyncio.ensure_future(batcher.score(model, np.array([1])))  # type: ignore[arg-type]
    await asyncio.to_thread(model.started.wait, 5)
    ticks = 0
    for _ in range(10):  # the loop keeps turning while the model call blocks its thread
        await asyncio.sleep(0.001)
        ticks += 1
    model.gate.set()
    await pending
    await batcher.stop()
    assert ticks == 10


async def test_a_batch_that_cannot_even_be_built_fails_its_requests_and_the_thread_survives() -> None:
    model = GatedModel()
    batcher, first, ragged = await behind_a_running_call(model, [np.array([1] * n) for n in (2, 3)])
    await first
    for future in ragged:  # np.stack of (2,) and (3,) raised in the inference thread
        with pytest.raises(ValueError):
            await future
    row = await batcher.score(model, np.array([4, 5]))  # type: ignore[arg-type]
    await batcher.stop()
    assert row.tolist() == [9, 4]


async def test_a_model_answering_the_wrong_number_of_rows_fails_its_requests_instead_of_hanging() -> None:
    class OneRow(GatedModel):
        def score(self, histories: np.ndarray, times: np.ndarray | None = None) -> np.ndarray:
            return super().score(histories)[:1]

    model = OneRow()
    batcher, first, pair = await behind_a_running_call(model, [np.array([i, 0]) for i in (2, 3)])
    await first
    for future in pair:
        with pytest.raises(RuntimeError, match="returned 1 rows for 2"):
            await asyncio.wait_for(future, 5)
    await batcher.stop()


def test_top_k_ranks_nan_scores_last_and_never_returns_masked_items() -> None:
    from steadyrec.core.onnx_model import top_k

    scores = np.array([0.5, np.nan, 0.9, 0.1, np.nan, -np.inf, 0.3], dtype=np.float32)
    assert top_k(scores, 2).tolist() == [2, 0]
    assert top_k(scores, 10).tolist() == [2, 0, 6, 3]


def test_top_k_breaks_ties_by_the_lower_index_as_the_graph_does() -> None:
    from steadyrec.core.onnx_model import top_k

    scores = np.array([1.0, 3.0, 3.0, 2.0, 3.0], dtype=np.float32)
    assert top_k(scores, 2).tolist() == [1, 2]
    assert top_k(scores, 4).tolist() == [1, 2, 4, 3]
    assert top_k(np.zeros(6, dtype=np.float32), 3).tolist() == [0, 1, 2]
