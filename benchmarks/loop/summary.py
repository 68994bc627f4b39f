"""The loop study's summary table (README), from the daily-replay JSON rows: per dataset and policy the means
over days, and each policy's NDCG@10 against frozen and retrain as the mean paired daily difference with its
standard error over days.

    python -m benchmarks.loop.summary benchmarks/loop/results/daily-replay-ml-100k.json ...
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any


def _paired(rows: list[dict[str, Any]], policy: str, other: str) -> str:
    mine = {r["day"]: r["ndcg@10"] for r in rows if r["policy"] == policy and r["day"] != "mean"}
    theirs = {r["day"]: r["ndcg@10"] for r in rows if r["policy"] == other and r["day"] != "mean"}
    days = sorted(set(mine) & set(theirs))
    if policy == other or not days:
        return ""
    diffs = [mine[d] - theirs[d] for d in days]
    mean = sum(diffs) / len(diffs)
    if len(diffs) < 2:
        return f"{mean:+.4f}"
    se = math.sqrt(sum((x - mean) ** 2 for x in diffs) / (len(diffs) - 1) / len(diffs))
    return f"{mean:+.4f} ± {se:.4f}"


def table(paths: list[Path]) -> str:
    lines = [
        "| dataset | policy | ndcg@10 | vs frozen | vs retrain | rbo | jaccard@10 | new_item_hr@10 | "
        "new_item_coverage | promoted | compute_s |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for path in paths:
        rows = json.loads(path.read_text())["rows"]
        for mean in (r for r in rows if r["day"] == "mean"):
            name, dataset = mean["policy"], mean["dataset"]
            promoted = str(mean["promoted"])
            if mean["gate_failures"]:
                promoted += f" ({mean['gate_failures']} gate failures)"
            hr = mean["new_item_hr@10"]
            coverage = mean["new_item_coverage"]
            lines.append(
                f"| {dataset} | {'**' + name + '**' if name == 'finest-growth' else name} | {mean['ndcg@10']:.4f} | "
                f"{_paired(rows, name, 'frozen')} | {_paired(rows, name, 'retrain')} | {mean['rbo']:.3f} | "
                f"{mean['jaccard@10']:.3f} | {hr if hr is None else f'{hr:.3f}'} | "
                f"{coverage if coverage is None else f'{coverage:.2f}'} | {promoted} | {mean['compute_s']:.0f} |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("results", nargs="+", type=Path, help="daily-replay JSON files")
    print(table(parser.parse_args().results))


if __name__ == "__main__":
    main()
