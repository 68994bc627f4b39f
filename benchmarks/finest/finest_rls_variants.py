"""FINEST variants in the RLS protocol: one Θ and Θ', FINEST with other reductions, epoch counts and λ.

    .venv/bin/python -m benchmarks.finest.finest_rls_variants --seed 1 --variants sum:10 mean:10 sum:30

Foursquare as in finest_rls.py, shared-stream regime, random deletion of 0.1%. Θ and Θ' are trained
once; every variant fine-tunes its own copy of Θ on the perturbed data against Θ's reference lists
(training/rls.py), so the rows differ only in FINEST's settings. A variant is REDUCTION:EPOCHS[:LAM]
(Eq. 3 reduction "sum" as printed or "mean" as the official code; FINEST epochs; λ of Eq. 5, default
FinestConfig's), or random-ft:EPOCHS for the Random F.T. baseline.
"""

from __future__ import annotations

import argparse
import time

from benchmarks.common.results_io import results_dir, write_results
from benchmarks.finest.finest_rls import MODELS, foursquare, rls_config
from training.methods.finest import FinestConfig
from training.rls import RLSConfig, run_rls, train_theta, train_theta_prime

RESULTS = results_dir(__file__)


def variant(text: str) -> tuple[str, str, str, str]:
    """[random-ft:]REDUCTION:EPOCHS[:LAM] -> (method, reduction, epochs, λ); λ defaults to FinestConfig's.
    ``random-ft:EPOCHS`` is the paper's Random F.T. baseline (the simulation, no regulariser)."""
    if text.startswith("random-ft:"):
        return "random-ft", "-", text.removeprefix("random-ft:"), "-"
    reduction, epochs, *lam = text.split(":")
    return "finest", reduction, epochs, lam[0] if lam else str(FinestConfig.lam)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="sasrec", choices=list(MODELS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=20, help="training epochs of Θ and Θ'")
    parser.add_argument("--variants", nargs="+", default=["sum:10", "mean:10", "sum:30"])
    parser.add_argument("--name", default="finest-rls-variants")
    args = parser.parse_args()
    _, split = foursquare()

    def config(finest: FinestConfig, methods: tuple[str, ...]) -> RLSConfig:
        return rls_config(args.model, args.seed, args.epochs, finest, methods)

    started = time.perf_counter()
    base = config(FinestConfig(), ("original",))
    print(f"training Θ and Θ' ({args.model}, {args.epochs} epochs, seed {args.seed}) ...", flush=True)
    theta, theta_prime = train_theta(split, base), train_theta_prime(split, base)
    train_s = time.perf_counter() - started
    rows: list[dict[str, object]] = []
    runs = [("original", "-", "0", "-")] + [variant(v) for v in args.variants]
    for method, reduction, epochs, lam in runs:
        t0 = time.perf_counter()
        finest = FinestConfig()
        if method == "finest":
            finest = FinestConfig(epochs=int(epochs), reduction=reduction, lam=float(lam))  # type: ignore[arg-type]
        elif method == "random-ft":
            finest = FinestConfig(epochs=int(epochs))
        (result, _), *_ = run_rls(split, config(finest, (method,)), theta=theta, theta_prime=theta_prime).values()
        rows.append(
            {
                "dataset": "foursquare",
                "model": args.model,
                "method": method,
                "reduction": reduction,
                "finest_epochs": int(epochs),
                "lam": lam,
                "seed": args.seed,
                **{k: round(v, 4) for k, v in result.summary().items()},
                "wall_s": round(time.perf_counter() - t0, 1),
            }
        )
        print(f"  {rows[-1]}", flush=True)
    write_results(
        args.name,
        rows,
        notes=f"Shared stream, random deletion 0.1%, Θ and Θ' trained once ({args.epochs} epochs, {train_s:.0f} s) "
        "and shared by every row; wall_s is the row's fine-tuning and comparison. 2-core CPU.",
        folder=RESULTS,
    )


if __name__ == "__main__":
    main()
