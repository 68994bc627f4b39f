"""The bad-input corpus over real HTTP: every hand-written bad request must get a 4xx with a message.

    .venv/bin/python benchmarks/bad_inputs.py

The service runs under uvicorn on 127.0.0.1 (a small synthetic world); the corpus is
tests/service/bad_inputs.py. Prints each case with its status and the start of its message.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from results_io import write_results  # noqa: E402
from world import build_world  # noqa: E402

from tests.service.bad_inputs import CASES  # noqa: E402
from tests.worker.harness import TOKEN, running_server  # noqa: E402


def main() -> None:
    settings = build_world(Path(tempfile.mkdtemp(prefix="bad-inputs-")))
    statuses: dict[int, int] = {}
    with running_server(settings) as url, httpx.Client(base_url=url, timeout=60) as client:
        for case in CASES:
            headers = {**({"Authorization": f"Bearer {TOKEN}"} if case.auth else {}), **case.headers}
            kwargs = {"content": case.content} if case.content is not None else {"json": case.json}
            response = client.request(case.method, case.path, headers=headers, **kwargs)
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
            detail = str(response.json().get("detail", ""))[:70] if response.content else ""
            flag = "" if 400 <= response.status_code < 500 and detail else "   <-- NOT A CLEAR 4xx"
            print(f"{response.status_code}  {case.name:38s} {detail}{flag}", flush=True)
    server_errors = sum(n for code, n in statuses.items() if code >= 500)
    not_4xx = sum(n for code, n in statuses.items() if not 400 <= code < 500)
    row = {
        "cases": len(CASES),
        "server_errors": server_errors,
        "non_4xx": not_4xx,
        **{f"status_{code}": n for code, n in sorted(statuses.items())},
    }
    write_results("bad-inputs", [row], notes="Corpus: tests/service/bad_inputs.py; service under uvicorn on loopback.")
    if not_4xx:
        sys.exit(1)


if __name__ == "__main__":
    main()
