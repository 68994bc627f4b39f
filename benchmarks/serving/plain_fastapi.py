"""The peer every user would write first: FastAPI, ONNX Runtime in the thread pool, no batching.

    PLAIN_ARTIFACT=DIR PLAIN_EVENTS=FILE uvicorn --factory benchmarks.serving.plain_fastapi:create_app

It reads the same artifact as the service (the graph's own top-K, the history left out in the graph) and
the same seed log, and answers ``POST /recommend`` with ``{"user_id", "k"}`` for a stored user.
"""

import json
import os
from pathlib import Path

import numpy as np
import onnxruntime as ort
from fastapi import FastAPI
from pydantic import BaseModel

from steadyrec.core.formats import read_interactions


class Request(BaseModel):
    user_id: str
    k: int = 10


def create_app() -> FastAPI:
    artifact = Path(os.environ["PLAIN_ARTIFACT"])
    session = ort.InferenceSession(str(artifact / "model.onnx"), providers=["CPUExecutionProvider"])
    items = json.loads((artifact / "items.json").read_text())
    index = {item: i + 1 for i, item in enumerate(items)}
    max_len = json.loads((artifact / "manifest.json").read_text())["max_len"]
    histories: dict[str, list[int]] = {}
    for user, item, _ in sorted(read_interactions(Path(os.environ["PLAIN_EVENTS"])), key=lambda r: r[2] or 0.0):
        histories.setdefault(user, []).append(index[item])
    app = FastAPI()

    @app.post("/recommend")
    def recommend(request: Request) -> dict:  # a plain def: FastAPI runs it in its thread pool
        seen = np.array(histories[request.user_id], dtype=np.int64)
        window = np.zeros((1, max_len), np.int64)
        window[0, max_len - len(seen[-max_len:]) :] = seen[-max_len:]
        feed = {"history": window, "k": np.array([request.k]), "exclude": seen[None]}
        ids, scores = session.run(["top_items", "top_scores"], feed)
        return {"items": [{"item": items[i - 1], "score": float(s)} for i, s in zip(ids[0], scores[0], strict=True)]}

    return app
