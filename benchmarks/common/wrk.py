"""Load from ``wrk`` (the Debian package): one thread, ``connections`` open connections, a Lua script."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path


def recommend_script(first: int, last: int, prefix: str = "", seed: int = 42) -> str:
    """A wrk Lua script: ``POST /recommend`` for a random user ``<prefix><n>``, n in [first, last], k 10."""
    return f"""
math.randomseed({seed})
request = function()
  local body = '{{"user_id": "{prefix}' .. math.random({first}, {last}) .. '", "k": 10}}'
  return wrk.format("POST", "/recommend", {{["Content-Type"] = "application/json"}}, body)
end
"""


def wrk(url: str, connections: int, seconds: float, script: Path) -> dict[str, float]:
    """Runs wrk against ``url``; its p50 and p99 latency (ms), requests/s and non-2xx/3xx answers."""
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script), url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout

    def ms(label: str) -> float:
        match = re.search(rf"^\s+{label}\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        assert match, out
        value, unit = float(match.group(1)), match.group(2)
        return value / 1000.0 if unit == "us" else value * 1000.0 if unit == "s" else value

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"p50_ms": ms("50%"), "p99_ms": ms("99%"), "rps": rps, "non_2xx": int(errors.group(1)) if errors else 0}
