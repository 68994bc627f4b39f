"""How strong should FINEST's regulariser be for a daily fine-tune? The showcase world, one live model,
FINEST candidates with different reductions of Eq. 3, λ and epochs, each judged by the default canary.

    .venv/bin/python -m benchmarks.finest.finest_strength [--grid reduction:lam:epochs ...] [--live-cache F]

Writes `finest-strength.md/json`, one row per setting, with the gate's figures and the final epoch's
next-item loss and regulariser (the quantities the choice of default weighs).
"""

from __future__ import annotations

import argparse
import copy
import tempfile
import time
from pathlib import Path

from benchmarks.canary.showcase_world import DATA, build_world, export, judge, train_live
from benchmarks.common.results_io import results_dir, write_results
from steadyrec.core.canary import CanaryPolicy
from steadyrec.core.methods import make_method_config
from training.methods.finest import finest_finetune

RESULTS = results_dir(__file__)

DEFAULT_GRID = ["sum:1:20", "mean:1:20", "mean:16:20", "sum:1:5"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--grid", nargs="+", default=DEFAULT_GRID, help="reduction:lam:epochs settings")
    parser.add_argument("--live-epochs", type=int, default=30)
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--live-cache", type=Path)
    parser.add_argument("--name", default="finest-strength")
    parser.add_argument("--data", type=Path, default=DATA, help="a timestamped log (default: foursquare)")
    args = parser.parse_args()
    world = build_world(args.seed, args.samples, args.data)
    live = train_live(world, args.live_epochs, args.seed, args.live_cache)
    work = Path(tempfile.mkdtemp(prefix="finest-strength-"))
    live_art = export(live, world, work / "live", "live")
    policy = CanaryPolicy()
    rows = []
    for setting in args.grid:
        reduction, lam, epochs = setting.split(":")
        params = {"reduction": reduction, "lam": float(lam), "epochs": int(epochs)}
        t0 = time.perf_counter()
        model = copy.deepcopy(live)
        result = finest_finetune(model, world.new_train, live, make_method_config("finest", params))
        seconds = time.perf_counter() - t0
        last = result.epochs[-1]
        row = {**params, **judge(live_art, export(model, world, work / setting, setting), world, policy)}
        row |= {"next_item_loss": round(last.next_item_loss, 4), "regulariser": round(last.regulariser, 4)}
        row["wall_s"] = round(seconds, 1)
        print(row, flush=True)
        rows.append(row)
    write_results(
        args.name,
        rows,
        notes=f"Default canary policy: {policy.model_dump()}. Live: {args.live_epochs} epochs on the old data. "
        "Every row starts from the same live weights and uses the same fresh data and replay.",
        folder=RESULTS,
    )


if __name__ == "__main__":
    main()
