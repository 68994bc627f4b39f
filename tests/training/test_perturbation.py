import numpy as np
import pytest

from steadyrec.core.interactions import InteractionLog
from training.perturbation import (
    Operation,
    PerturbationConfig,
    apply_operation,
    casper_scores,
    perturb,
    select_interactions,
)


def log_of(*sequences: list[int], stamps: list[list[float]] | None = None) -> InteractionLog:
    n_items = max(max(s) for s in sequences)
    return InteractionLog(
        tuple(f"u{i}" for i in range(len(sequences))),
        tuple(str(i) for i in range(1, n_items + 1)),
        tuple(np.array(s, dtype=np.int64) for s in sequences),
        tuple(np.array(t, dtype=np.float64) for t in stamps) if stamps else None,
    )


# item 5 is the least popular (once); every other item occurs at least twice.
LOG = log_of([1, 2, 3, 4], [2, 1, 3, 4, 1], [3, 4, 2, 5])


def one_at(user: int, position: int, operation: Operation) -> list[list[int]]:
    return [s.tolist() for s in apply_operation(LOG, [(user, position)], operation).log.sequences]


@pytest.mark.parametrize(
    ("operation", "expected"),
    [
        pytest.param("deletion", [1, 2, 4], id="deletion"),
        pytest.param("insertion", [1, 2, 5, 3, 4], id="insertion-of-least-popular-before"),
        pytest.param("replacement", [1, 2, 5, 4], id="replacement-by-least-popular"),
    ],
)
def test_operations_on_a_hand_made_log(operation: Operation, expected: list[int]) -> None:
    sequences = one_at(0, 2, operation)
    assert sequences[0] == expected
    assert sequences[1:] == [s.tolist() for s in LOG.sequences[1:]]  # other users untouched


def test_ratio_sets_the_count_and_the_seed_reproduces_it() -> None:
    big = log_of(*[list(range(1, 21)) for _ in range(50)])  # 1,000 interactions
    a = select_interactions(big, PerturbationConfig(ratio=0.01, seed=3))
    assert len(a) == 10 and a == select_interactions(big, PerturbationConfig(ratio=0.01, seed=3))
    assert a != select_interactions(big, PerturbationConfig(ratio=0.01, seed=4))


@pytest.mark.parametrize(
    ("selection", "allowed"),
    [pytest.param("earliest-random", {0, 1}, id="earliest"), pytest.param("latest-random", {18, 19}, id="latest")],
)
def test_edge_selections_stay_in_the_first_or_last_tenth(selection: str, allowed: set[int]) -> None:
    big = log_of(*[list(range(1, 21)) for _ in range(50)])
    chosen = select_interactions(big, PerturbationConfig(selection=selection, ratio=0.05))  # type: ignore[arg-type]
    assert len(chosen) == 50 and {t for _, t in chosen} <= allowed


def test_casper_counts_descendants_exactly_on_a_small_graph() -> None:
    # u0: a(t1) b(t2); u1: c(t3) a(t4) d(t5). Edges: user-next, and a(t1) -> a(t4) (same item).
    log = log_of([1, 2], [3, 1, 4], stamps=[[1, 2], [3, 4, 5]])
    scores = casper_scores(log, sketch_size=64)
    # flat order: u0:a, u0:b, u1:c, u1:a, u1:d
    np.testing.assert_array_equal(scores, [4, 1, 3, 2, 1])  # u0:a reaches b, u1:a, u1:d
    chosen = select_interactions(log, PerturbationConfig(selection="casper", ratio=0.2))
    assert chosen == [(0, 0)]


def test_casper_estimate_is_close_on_a_larger_graph() -> None:
    log = log_of(*[list(range(1, 201))])  # one chain of 200: node t has 200 - t descendants
    scores = casper_scores(log, sketch_size=64, seed=1)
    assert scores[0] == pytest.approx(200, rel=0.35)
    np.testing.assert_array_equal(scores[-63:], np.arange(63, 0, -1))  # exact while under the sketch size


def test_perturbation_keeps_the_item_index() -> None:
    result = perturb(LOG, PerturbationConfig(ratio=0.5, seed=0))
    assert result.log.item_ids == LOG.item_ids and result.filler_item == 5
    assert result.log.n_interactions == LOG.n_interactions - len(result.chosen)


def test_mixed_operations_record_where_each_item_came_from() -> None:
    from training.perturbation import apply_operations

    result = apply_operations(LOG, [(1, 0), (1, 2), (1, 4)], ["insertion", "deletion", "replacement"])
    assert result.log.sequences[1].tolist() == [5, 2, 1, 4, 5]
    assert result.origins[1].tolist() == [-1, 0, 1, 3, -1]
    assert result.origins[0].tolist() == [0, 1, 2, 3]
