"""One loaded model version: its ONNX Runtime session, item index and fallback list.

Sessions are created once per version. CUDA is used when onnxruntime-gpu and a GPU are present,
else the CPU execution provider.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import onnxruntime as ort

from steadyrec.core.history import History
from steadyrec.core.manifest import ArtifactError, Manifest, read_items, verify_artifact

__all__ = ["LoadedModel", "ModelInput", "SessionConfig", "Spinning", "TimestampsMissing", "load_version", "top_k"]

log = logging.getLogger(__name__)


class TimestampsMissing(ValueError):
    """A time-aware model was asked to score a history without the time of every item."""


@dataclass(frozen=True)
class ModelInput:
    """One history as the graph reads it."""

    ids: np.ndarray  # (max_len,) int64 internal ids, left-padded with 0
    times: np.ndarray | None  # (max_len,) int64 whole seconds, 0 at padding; a time-aware model's only
    known: np.ndarray  # (n,) internal ids of every known history item, oldest first (not only the last max_len)
    unknown: list[str]  # dataset ids the model does not know (left out of ids and times)


def _providers() -> list[str]:
    available = ort.get_available_providers()
    return [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in available]


@dataclass(frozen=True, eq=False)
class LoadedModel:
    version: str
    manifest: Manifest
    session: ort.InferenceSession
    item_ids: list[str]  # internal id i -> item_ids[i - 1]
    item_index: dict[str, int]  # dataset id -> internal id
    popular: np.ndarray  # internal ids of the most popular training items, best first

    @property
    def n_items(self) -> int:
        return self.manifest.n_items

    @property
    def max_len(self) -> int:
        return self.manifest.max_len

    @property
    def has_top_k(self) -> bool:
        """Whether the graph also returns each history's top K (``training.onnx_graph.add_top_k``)."""
        return "top_items" in self.manifest.onnx_io

    @property
    def uses_time(self) -> bool:
        """Whether the graph reads the history's timestamps (a second input) as well as its items."""
        return "times" in self.manifest.onnx_io

    def model_input(self, history: History) -> ModelInput:
        """A history (dataset ids, oldest first, with times) as this model's input; unknown items are left
        out with their times. Raises :class:`TimestampsMissing` for a time-aware model asked about known
        items without their times (a history with none it knows needs none: it gets the fallback)."""
        known, unknown = self.internal_ids(history.items)
        ids = np.asarray(known, dtype=np.int64)
        times = None
        if self.uses_time and not known:
            times = np.zeros(self.max_len, dtype=np.int64)
        elif self.uses_time:
            if history.times is None:
                raise TimestampsMissing(
                    f"model {self.version} ({self.manifest.model_kind}) reads the time of every history item; "
                    "this history has no timestamps"
                )
            stamps = np.floor(np.asarray(history.times, dtype=np.float64)).astype(np.int64)
            if unknown:
                stamps = stamps[np.fromiter((i in self.item_index for i in history.items), bool, len(history))]
            times = self.left_padded_one(stamps)
        return ModelInput(self.left_padded_one(ids), times, ids, unknown)

    def internal_ids(self, items: list[str]) -> tuple[list[int], list[str]]:
        """Dataset ids -> (internal ids of the known items, the unknown dataset ids), order kept."""
        get = self.item_index.get
        mapped = list(map(get, items))  # one C-level pass; unknown items are rare
        if None not in mapped:
            return mapped, []  # type: ignore[return-value]  # no None left
        return [i for i in mapped if i is not None], [item for item, i in zip(items, mapped, strict=True) if i is None]

    def left_padded_one(self, history: np.ndarray) -> np.ndarray:
        """One history's last max_len internal ids, left-padded with 0: (n,) -> (max_len,) int64."""
        out = np.zeros(self.max_len, dtype=np.int64)
        tail = history[-self.max_len :]
        out[self.max_len - len(tail) :] = tail
        return out

    def score(self, histories: np.ndarray, times: np.ndarray | None = None) -> np.ndarray:
        """(B, max_len) int64 left-padded histories (and, for a time-aware model, their (B, max_len) int64
        timestamps) -> (B, n_items) float32 scores (blocking)."""
        return self.session.run([self.manifest.onnx_io.get("output", "scores")], self._feed(histories, times))[0]

    def top(
        self, histories: np.ndarray, times: np.ndarray | None, k: int, exclude: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """The graph's own top k (a graph with ``has_top_k``; blocking): (B, max_len) histories (and times),
        ``exclude`` (B, E) int64 internal ids to leave out (0 = none) -> internal ids (B, k) int64, best first,
        and their scores (B, k) float32, -inf where fewer than k items were left (1 <= k <= n_items)."""
        io = self.manifest.onnx_io
        feed = self._feed(histories, times, k=k, exclude=exclude)
        items, scores = self.session.run([io["top_items"], io["top_scores"]], feed)
        return items, scores

    def score_inputs(self, inputs: list[ModelInput]) -> np.ndarray:
        """Scores of several :meth:`model_input` results in one call: (B, n_items) float32 (blocking)."""
        times = np.stack([i.times for i in inputs]) if self.uses_time else None  # type: ignore[misc]
        return self.score(np.stack([i.ids for i in inputs]), times)

    def _feed(
        self, histories: np.ndarray, times: np.ndarray | None, k: int = 1, exclude: np.ndarray | None = None
    ) -> dict[str, np.ndarray]:
        io = self.manifest.onnx_io
        feed = {io.get("input", "history"): histories}
        if self.uses_time:
            if times is None:
                raise TimestampsMissing(f"model {self.version} reads the time of every history item")
            feed[io["times"]] = times
        if self.has_top_k:  # a scores-only call still feeds the top-K inputs: top 1, nothing left out
            feed[io["k"]] = np.array([k], dtype=np.int64)
            feed[io["exclude"]] = np.zeros((len(histories), 1), np.int64) if exclude is None else exclude
        return feed


Spinning = Literal["off", "during-call", "always"]


@dataclass(frozen=True)
class SessionConfig:
    intra_op_threads: int = 0  # 0 = ONNX Runtime's default (all cores)
    # "during-call": intra-op threads spin inside a call and stop when it returns (force_spinning_stop),
    # so they neither wake per operator ("off") nor take the HTTP layer's cores between calls ("always")
    spinning: Spinning = "during-call"


def load_version(version: str, directory: Path, session: SessionConfig | None = None) -> LoadedModel:
    """Verify the artifact's checksums and open its session; raises ArtifactError when corrupt."""
    manifest = verify_artifact(directory, need_onnx=True)
    config = session or SessionConfig()
    options = ort.SessionOptions()
    if config.intra_op_threads:
        options.intra_op_num_threads = config.intra_op_threads
    options.add_session_config_entry("session.intra_op.allow_spinning", "0" if config.spinning == "off" else "1")
    options.add_session_config_entry("session.force_spinning_stop", "1" if config.spinning == "during-call" else "0")
    assert manifest.onnx_file is not None  # verify_artifact(need_onnx=True) guarantees it
    ort_session = ort.InferenceSession(str(directory / manifest.onnx_file), options, providers=_providers())
    items = read_items(directory, manifest)
    index = {item: i + 1 for i, item in enumerate(items)}
    popular = np.array([index[i] for i in manifest.popular_items if i in index], dtype=np.int64)
    log.info(
        "loaded model %s (%s, %d items, providers %s)",
        version,
        manifest.model_kind,
        len(items),
        ort_session.get_providers(),
    )
    loaded = LoadedModel(version, manifest, ort_session, items, index, popular)
    empty = np.zeros((1, manifest.max_len), np.int64)  # warm-up: the first call is the slow one
    try:
        ort_session.run(None, loaded._feed(empty, empty if loaded.uses_time else None))
    except Exception as err:  # ONNX Runtime raises its own types; a graph that cannot score is refused
        raise ArtifactError(f"{directory}: model.onnx does not score a history: {err}") from err
    return loaded


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k highest finite scores, best first, without sorting all of them (argpartition).

    Items masked with -inf (or scored NaN) are never returned, so fewer than k come back when fewer are
    allowed. Equal scores rank by index, lower first, as in the graph's own top-K.
    """
    if np.isnan(scores).any():  # NaN would sort above every score; it ranks last instead
        scores = np.where(np.isnan(scores), -np.inf, scores)
    n = len(scores)
    k = min(k, n)
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    part = np.argpartition(scores, n - k)[n - k :] if k < n else np.arange(n)  # the k largest, unordered
    if k < n:  # items tied with the k-th score: the lower indices get in (as ONNX TopK, the graph's top-K)
        kth = scores[part].min()
        if np.count_nonzero(scores == kth) > np.count_nonzero(scores[part] == kth):
            above = np.flatnonzero(scores > kth)
            part = np.concatenate([above, np.flatnonzero(scores == kth)[: k - len(above)]])
    part = np.sort(part)
    best = part[np.argsort(-scores[part], kind="stable")]  # equal scores: lower index first
    return best[np.isfinite(scores[best])]
