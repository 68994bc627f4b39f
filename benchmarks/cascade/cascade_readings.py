"""The readings of cascade-guided AT that were never run on SASRec ml-1m (issue #32), one row each.

    .venv/bin/python -m benchmarks.cascade.cascade_readings            # every reading not yet run
    .venv/bin/python -m benchmarks.cascade.cascade_readings --only 1a 2b
    .venv/bin/python -m benchmarks.cascade.cascade_readings --table    # only rebuild the table

Each reading is one ``benchmarks.cascade.cascade_table3`` run on the cached SASRec ml-1m BCE base (the
base rows' settings: hidden 64, dropout 0.2, base budget 45 min, patience 10), 10 recycled adversarial
epochs with validation picking the epoch, at the product's ε (0.003, level 2 0.1) unless the reading says
otherwise. Its results go to ``results/cascade-ml-1m-reading-<id>``; the table
``cascade-ml-1m-readings`` gathers them with the reading's id, what it changes and its command, below the
base's row (``BASE_COMMAND``, run first: about 35 minutes when the base is not cached).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from typing import Any

from benchmarks.common.results_io import results_dir, write_results

RESULTS = results_dir(__file__)
COMMON = [
    "--loss", "bce", "--datasets", "ml-1m", "--models", "sasrec", "--base-minutes", "45", "--patience", "10",
    "--eps", "0.003", "--level2", "0.1", "--adv-epochs", "10", "--adv-minutes", "30", "--direction", "recycled",
]  # fmt: skip

# trains (or, when cached under var/cascade-bases, reloads) the base and writes its row
BASE_COMMAND = (
    "python -m benchmarks.cascade.cascade_table3 --loss bce --datasets ml-1m --models sasrec --methods base "
    "--base-minutes 45 --patience 10 --name cascade-ml-1m-readings-base"
)

# id, what it reads differently, its own arguments
READINGS: list[tuple[str, str, list[str]]] = [
    ("0", "adv_cas as the product runs it (the reference)", ["--methods", "adv_cas"]),
    (
        "1a",
        "adv_cas, independent dropout in Eq. 6 (Eq. 7 with dropout on)",
        ["--methods", "adv_cas", "--dropout", "independent"],
    ),
    (
        "1b",
        "1a at ε = 0: L_adv1 is a dropout-consistency term",
        ["--methods", "adv_cas", "--dropout", "independent", "--eps", "0"],
    ),
    ("1c", "adv_seq, shared dropout (today)", ["--methods", "adv_seq"]),
    ("1d", "adv_seq, independent dropout", ["--methods", "adv_seq", "--dropout", "independent"]),
    ("2a", "adv_cas, Eq. 6 on each window's last position only", ["--methods", "adv_cas", "--adv1-positions", "last"]),
    ("2b", "adv_cas, λ1 = 10 (averaged over every position)", ["--methods", "adv_cas", "--lam1", "10"]),
    ("2c", "adv_cas, λ1 = 100", ["--methods", "adv_cas", "--lam1", "100"]),
    (
        "3a",
        "adv_linear, level 2 normalised over the batch, ε2 = 3",
        ["--methods", "adv_linear", "--level2-norm", "batch", "--level2", "3"],
    ),
    (
        "3b",
        "adv_linear, level 2 over the batch, ε2 = 10 (the paper's ε)",
        ["--methods", "adv_linear", "--level2-norm", "batch", "--level2", "10"],
    ),
    (
        "3c",
        "adv_cas, level 2 over the batch, ε2 = 3",
        ["--methods", "adv_cas", "--level2-norm", "batch", "--level2", "3"],
    ),
    (
        "3d",
        "adv_cas, level 2 over the batch, ε2 = 10",
        ["--methods", "adv_cas", "--level2-norm", "batch", "--level2", "10"],
    ),
    (
        "4a",
        "adv_cas, level-1 norm over the window, ε = 0.01",
        ["--methods", "adv_cas", "--level1-norm", "sequence", "--eps", "0.01"],
    ),
    (
        "4b",
        "adv_cas, level-1 norm over the window, ε = 0.03",
        ["--methods", "adv_cas", "--level1-norm", "sequence", "--eps", "0.03"],
    ),
    (
        "4c",
        "adv_cas, level-1 norm over the window, ε = 0.1",
        ["--methods", "adv_cas", "--level1-norm", "sequence", "--eps", "0.1"],
    ),
    ("6b", "adv_cas, C re-scaled so that mean(1/C) = 1", ["--methods", "adv_cas", "--cascade-scale", "mean_inverse"]),
    (
        "5",
        "the best of 1-4 on validation (3b) for the paper's 100 adversarial epochs",
        [
            "--methods",
            "adv_linear",
            "--level2-norm",
            "batch",
            "--level2",
            "10",
            "--adv-epochs",
            "100",
            "--adv-minutes",
            "60",
        ],
    ),
    (
        "6a",
        "negatives from the user's unseen items: a base trained so, and adv_cas on it",
        # a longer cap than the cached base's 45 min, so that this base too stops by patience, not by the clock
        ["--methods", "base", "adv_cas", "--negatives", "unseen", "--base-minutes", "70"],
    ),
]


def command(reading: str, extra: list[str]) -> list[str]:
    """The reading's command line; the later of a repeated flag wins (argparse), so a reading's own
    ``--eps`` or ``--level2`` overrides COMMON's."""
    return [*COMMON, *extra, "--name", f"cascade-ml-1m-reading-{reading}"]


def run(reading: str, extra: list[str]) -> None:
    args = command(reading, extra)
    print(f"== reading {reading}: python -m benchmarks.cascade.cascade_table3 {' '.join(args)}", flush=True)
    subprocess.run([sys.executable, "-m", "benchmarks.cascade.cascade_table3", *args], check=True)


def table() -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    base = RESULTS / "cascade-ml-1m-readings-base.json"  # the base's own run (BASE_COMMAND)
    base_done = base.is_file()
    if base_done:
        row = next(r for r in json.loads(base.read_text())["rows"] if r["method"] == "base")
        rows.append({"reading": "base", "what": "the base every reading starts from", **row, "command": BASE_COMMAND})
    for reading, what, extra in READINGS:
        path = RESULTS / f"cascade-ml-1m-reading-{reading}.json"
        if not path.is_file():
            continue
        for row in json.loads(path.read_text())["rows"]:
            if row.get("method") == "epoch_cost":
                continue
            if row["method"] == "base":
                if row.get("negatives") == "unseen":  # 6a's own base
                    rows.append({"reading": f"{reading}-base", "what": "a base trained with unseen negatives", **row})
                elif not base_done:
                    rows.append({"reading": "base", "what": "the cached base", **row})
                    base_done = True
                continue
            rows.append(
                {
                    "reading": reading,
                    "what": what,
                    **row,
                    "command": "python -m benchmarks.cascade.cascade_table3 " + " ".join(command(reading, extra)),
                }
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="*", default=None, help="these readings (ids), run again if present")
    parser.add_argument("--table", action="store_true", help="run nothing; rebuild the table")
    args = parser.parse_args()
    if not args.table:
        for reading, _, extra in READINGS:
            done = (RESULTS / f"cascade-ml-1m-reading-{reading}.json").is_file()
            if (args.only is None and not done) or (args.only is not None and reading in args.only):
                run(reading, extra)
    rows = table()
    write_results(
        "cascade-ml-1m-readings",
        rows,
        notes="Issue #32: SASRec ml-1m (BCE base, hidden 64, dropout 0.2), 10 recycled adversarial epochs, the "
        "best epoch on validation, test NDCG@10 / HR@10 with full ranking (history excluded). `ndcg@10_se`: "
        "standard error over test users; `p_vs_base`: paired t-test against the base. Paper (Table 3): base "
        "0.1359 / 0.2528, adv_cas 0.1546 / 0.2831. Each row's `command` rebuilds it.",
        folder=RESULTS,
    )


if __name__ == "__main__":
    main()
