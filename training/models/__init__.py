"""Models on the shared contract (:class:`SequentialModel`) and the factory that rebuilds them."""

from __future__ import annotations

from dataclasses import asdict, fields
from typing import Any

from training.models.base import SequentialModel
from training.models.bert4rec import BERT4Rec, BERT4RecConfig
from training.models.ease import EASE, EASEConfig
from training.models.recurrent import GRU4Rec, GRU4RecConfig, LSTMRec, LSTMRecConfig
from training.models.sasrec import SASRec, SASRecConfig
from training.models.tisasrec import TiSASRec, TiSASRecConfig

__all__ = ["MODELS", "SequentialModel", "build_model", "config_dict", "make_config"]

# kind -> (model class, config class). Later models register here.
MODELS: dict[str, tuple[type[SequentialModel], type]] = {
    "sasrec": (SASRec, SASRecConfig),
    "tisasrec": (TiSASRec, TiSASRecConfig),  # reads the history's timestamps too (``uses_time``)
    "gru4rec": (GRU4Rec, GRU4RecConfig),
    "lstm": (LSTMRec, LSTMRecConfig),
    "bert4rec": (BERT4Rec, BERT4RecConfig),
    "ease": (EASE, EASEConfig),  # fitted in closed form (training.models.ease.fit_ease), no loss()
}


def make_config(kind: str, values: dict[str, Any] | None = None) -> Any:
    """A typed config for ``kind`` from a plain dict; unknown keys are refused by name."""
    if kind not in MODELS:
        raise ValueError(f"unknown model {kind!r}; expected one of {', '.join(sorted(MODELS))}")
    cls = MODELS[kind][1]
    values = dict(values or {})
    allowed = {f.name for f in fields(cls)}
    unknown = sorted(set(values) - allowed)
    if unknown:
        raise ValueError(f"unknown {kind} config keys {unknown}; allowed: {sorted(allowed)}")
    return cls(**values)


def build_model(kind: str, n_items: int, config: dict[str, Any] | None = None) -> SequentialModel:
    return MODELS[kind][0](n_items, make_config(kind, config))


def config_dict(model: SequentialModel) -> dict[str, Any]:
    return asdict(model.config)
