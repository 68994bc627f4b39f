"""The bad-input corpus over real HTTP: every bad request, on every endpoint that takes one, must get
a 4xx whose answer says what was wrong; never a 5xx, never a 2xx.

    .venv/bin/python -m benchmarks.reliability.bad_inputs

The service runs under uvicorn on 127.0.0.1 (a small synthetic world); the corpus is
steadyrec/testing/bad_inputs.py (hand-written cases plus classes generated per endpoint from the request
models). Prints each case that is not a clear 4xx; writes one row per endpoint.
"""

from __future__ import annotations

import sys
import tempfile
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import httpx

from benchmarks.common.results_io import results_dir, write_results
from benchmarks.common.world import build_world
from steadyrec.testing.bad_inputs import CASES, BadRequest, endpoint_label
from steadyrec.testing.harness import TOKEN, running_server

RESULTS = results_dir(__file__)


def send(client: httpx.Client, case: BadRequest) -> tuple[int, bool]:
    """The status and whether the answer is a clear 4xx (a ``detail`` naming ``expect``)."""
    headers = {**({"Authorization": f"Bearer {TOKEN}"} if case.auth else {}), **case.headers}
    kwargs: dict[str, Any] = {"content": case.content} if case.content is not None else {"json": case.json}
    response = client.request(case.method, case.path, headers=headers, **kwargs)
    try:
        detail = response.json().get("detail")
    except ValueError:
        detail = None
    clear = 400 <= response.status_code < 500 and bool(detail) and case.expect.lower() in response.text.lower()
    if not clear:
        print(f"{response.status_code}  {case.name:50s} {response.text[:100]}  <-- NOT A CLEAR 4xx", flush=True)
    return response.status_code, clear


def row(endpoint: str, results: list[tuple[int, bool]]) -> dict[str, Any]:
    statuses = Counter(status for status, _ in results)
    return {
        "endpoint": endpoint,
        "cases": len(results),
        "server_errors": sum(n for code, n in statuses.items() if code >= 500),
        "non_4xx": sum(n for code, n in statuses.items() if not 400 <= code < 500),
        "unclear": sum(not clear for _, clear in results),
        **{f"status_{code}": statuses.get(code, 0) for code in (401, 404, 405, 409, 413, 422)},
    }


def main() -> None:
    settings = build_world(Path(tempfile.mkdtemp(prefix="bad-inputs-")))
    by_endpoint: dict[str, list[tuple[int, bool]]] = defaultdict(list)
    with running_server(settings) as url, httpx.Client(base_url=url, timeout=60) as client:
        for case in CASES:
            by_endpoint[endpoint_label(case)].append(send(client, case))
    rows = [row(endpoint, results) for endpoint, results in sorted(by_endpoint.items())]
    rows.append(row("all", [r for results in by_endpoint.values() for r in results]))
    write_results(
        "bad-inputs",
        rows,
        notes="Corpus: steadyrec/testing/bad_inputs.py (hand-written cases plus classes generated "
        "per endpoint from its request model); service under uvicorn on loopback. `unclear`: a 4xx whose "
        "answer lacks a `detail` naming the field or rule (`expect`).",
        folder=RESULTS,
    )
    if any(r["non_4xx"] or r["unclear"] for r in rows):
        sys.exit(1)


if __name__ == "__main__":
    main()
