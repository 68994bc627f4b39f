"""The `steadyrec` console command: train, evaluate, export (and serve, from the service package).

Heavy imports (torch) happen inside the commands that need them, so `steadyrec serve` stays torch-free.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from rich.console import Console

from steadyrec.core.job_spec import MIN_ITEM_INTERACTIONS
from steadyrec.core.manifest import TOP_K_GRAPH, ExportOptions
from training.progress import progress_bar

app = typer.Typer(help="steadyrec: sequential recommenders whose recommendations stay steady.", no_args_is_help=True)
console = Console(stderr=True)

Format = Annotated[
    str | None, typer.Option("--format", help="pairs | sequences | tsv | recbole (detected when omitted)")
]
MinInteractions = Annotated[int, typer.Option(help="drop users with fewer interactions (FINEST uses 10)")]
SplitOpt = Annotated[str, typer.Option("--split", help="leave-one-out | temporal (FINEST 90/10)")]
TopKGraph = Annotated[
    bool,
    typer.Option(
        "--top-k-graph/--scores-graph",
        help="the exported graph also returns the top K ids (history masked in the graph); docs/service.md",
    ),
]
Int8 = Annotated[
    bool,
    typer.Option(
        "--int8/--float",
        help="int8 item scoring, refused when it costs more than 1% of test NDCG@10; docs/training.md",
    ),
]


def parse_overrides(pairs: list[str]) -> dict[str, Any]:
    """`key=value` pairs; values parsed as JSON when they can be (numbers, booleans), else strings."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"expected key=value, got {pair!r}")
        try:
            out[key] = json.loads(raw)
        except json.JSONDecodeError:
            out[key] = raw
    return out


def _fail(message: str) -> typer.Exit:
    console.print(f"[red]error:[/red] {message}")
    return typer.Exit(code=2)


@contextmanager
def _user_errors() -> Iterator[None]:
    """Errors a user can fix (bad data, paths, parameters) end the command with a message and exit 2."""
    try:
        yield
    except (ValueError, FileNotFoundError, FileExistsError) as err:
        raise _fail(str(err)) from err


@app.callback()
def main(verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )


@app.command()
def train(
    data: Annotated[str, typer.Option(help="dataset file, or 'synthetic'")],
    out: Annotated[Path, typer.Option(help="checkpoint directory to write (must not exist)")],
    model: Annotated[str, typer.Option(help="model kind")] = "sasrec",
    fmt: Format = None,
    min_interactions: MinInteractions = 1,
    split: SplitOpt = "leave-one-out",
    set_: Annotated[list[str] | None, typer.Option("--set", help="model config key=value, repeatable")] = None,
    epochs: int = 50,
    batch_size: int = 128,
    lr: float = 1e-3,
    seed: int = 0,
    eval_every: int = 5,
    max_minutes: Annotated[float | None, typer.Option(help="wall-time budget for training")] = None,
    export: Annotated[bool, typer.Option(help="also export model.onnx (parity-checked)")] = False,
    top_k_graph: TopKGraph = TOP_K_GRAPH,
    int8: Int8 = False,
    exclude_history: Annotated[
        bool,
        typer.Option(
            "--exclude-history/--keep-history",
            help="test ranking without the user's history; --keep-history where users repeat items (check-ins)",
        ),
    ] = True,
) -> None:
    """Train a model and write a checkpoint artifact (weights, items, manifest with test metrics)."""
    from training.pipeline import TrainRequest, run_training

    request = TrainRequest(
        data=data,
        fmt=fmt,
        min_interactions=min_interactions,
        split=split,
        model=model,
        model_config=parse_overrides(set_ or []),
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        seed=seed,
        eval_every=eval_every,
        max_minutes=max_minutes,
        export=export,
        exclude_history=exclude_history,
        graph=ExportOptions(top_k=top_k_graph, int8=int8),
    )
    with _user_errors():
        manifest = run_training(request, out, console=console)
    console.print(f"wrote {out} ({manifest.model_kind}, test {json.dumps(manifest.metrics)})")


@app.command()
def evaluate(
    artifact: Annotated[Path, typer.Argument(help="checkpoint or artifact directory")],
    data: Annotated[str, typer.Option(help="dataset file, or 'synthetic'")],
    fmt: Format = None,
    min_interactions: MinInteractions = 1,
    split: SplitOpt = "leave-one-out",
    exclude_history: Annotated[bool, typer.Option(help="rank over items not in the history")] = True,
    k: Annotated[list[int] | None, typer.Option("--k", help="cut-offs, repeatable")] = None,
) -> None:
    """Full-ranking evaluation of a trained model on the test split of a dataset; prints JSON."""
    from training.pipeline import run_evaluation

    with _user_errors():
        metrics = run_evaluation(
            artifact,
            data,
            fmt=fmt,
            min_interactions=min_interactions,
            split=split,
            exclude_history=exclude_history,
            ks=tuple(k or [10]),
            console=console,
        )
    typer.echo(json.dumps(metrics, indent=2))


@app.command()
def export(
    checkpoint: Annotated[Path, typer.Argument(help="checkpoint directory written by `train`")],
    out: Annotated[Path, typer.Option(help="artifact directory to write (must not exist)")],
    top_k_graph: TopKGraph = TOP_K_GRAPH,
    int8: Int8 = False,
    data: Annotated[
        str | None, typer.Option(help="with --int8: the dataset to measure on (default: the one the manifest names)")
    ] = None,
) -> None:
    """Export a checkpoint to an ONNX artifact (checker + ONNX Runtime parity), written atomically."""
    from training.pipeline import export_checkpoint

    with _user_errors():
        manifest = export_checkpoint(checkpoint, out, ExportOptions(top_k=top_k_graph, int8=int8), data)
    console.print(f"exported {out}/model.onnx (sha256 {manifest.onnx_sha256})")


@app.command()
def finetune(
    base: Annotated[Path, typer.Argument(help="artifact to fine-tune")],
    out: Annotated[Path, typer.Option(help="artifact directory to write (must not exist)")],
    method: Annotated[
        str, typer.Option(help="finest | random-ft | continue | cascade | sao | rlarm | apt | acae")
    ] = "finest",
    data: Annotated[str | None, typer.Option(help="dataset (default: the base model's training data)")] = None,
    fmt: Format = None,
    reference: Annotated[Path | None, typer.Option(help="reference model for FINEST (default: base)")] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", help="method parameter key=value, repeatable")] = None,
    export: Annotated[bool, typer.Option(help="export model.onnx (parity-checked)")] = True,
    min_item_interactions: Annotated[
        int, typer.Option(min=0, help="new items with this many interactions join the model (0: none join)")
    ] = MIN_ITEM_INTERACTIONS,
    holdout: Annotated[
        str, typer.Option(help="what stays out of training: split | test (each user's newest) | none")
    ] = "test",
) -> None:
    """Fine-tune a trained model with a hardening method and write a new artifact."""
    from training.finetune import HOLDOUTS, FinetuneRequest, make_method_config, run_finetune
    from training.methods.finest import FinestEpoch

    params = parse_overrides(set_ or [])
    with _user_errors():
        epochs = make_method_config(method, params).epochs
        if holdout not in HOLDOUTS:
            raise ValueError(f"--holdout must be one of {', '.join(HOLDOUTS)}, got {holdout!r}")
        request = FinetuneRequest(
            base,
            method,
            params,
            data,
            fmt,
            reference,
            export,
            min_item_interactions=min_item_interactions or None,
            holdout=holdout,  # type: ignore[arg-type]
        )
        with progress_bar(console) as progress:
            task = progress.add_task(method, total=epochs, info="")

            def show(report: FinestEpoch) -> None:
                info = f"loss {report.next_item_loss:.4f}  reg {report.regulariser:.4f}"
                progress.update(task, advance=1, info=info)

            manifest = run_finetune(request, out, on_epoch=show).manifest
    console.print(f"wrote {out} ({method}, test {json.dumps(manifest.metrics)})")


@app.command()
def methods() -> None:
    """Every fine-tuning method's parameters: default and allowed range (Markdown; docs/method-parameters.md)."""
    from steadyrec.core.methods import parameter_table

    typer.echo(parameter_table(), nl=False)


@app.command()
def stability(
    a: Annotated[Path, typer.Argument(help="reference artifact (e.g. the live model)")],
    b: Annotated[Path, typer.Argument(help="artifact to compare (e.g. a candidate)")],
    data: Annotated[str, typer.Option(help="dataset whose test instances are ranked")],
    fmt: Format = None,
    min_interactions: MinInteractions = 1,
    split: SplitOpt = "temporal",
    p: Annotated[float, typer.Option(help="RBO persistence")] = 0.9,
) -> None:
    """Rank-list stability (FINEST Eq. 2) of B against A: rbo, ao_full, jaccard@10, and B's accuracy."""
    from steadyrec.core.interactions import reindex
    from training.artifact import load_model
    from training.datasets import load_data, make_split
    from training.evaluation.stability import compare_models

    with _user_errors():
        model_a, _, items = load_model(a)
        model_b, _, items_b = load_model(b)
        if items != items_b:
            raise ValueError("the two models have different item indexes; compare models of one lineage")
        log, _ = reindex(load_data(data, fmt, min_interactions).log, items)  # type: ignore[arg-type]
        test = make_split(log, split).test  # type: ignore[arg-type]
        with progress_bar(console) as progress:
            task = progress.add_task("rank", total=len(test), info="")
            result = compare_models(model_a, model_b, test, p=p, on_batch=lambda n: progress.update(task, advance=n))
    low = result.low_accuracy_rows(0.2)
    rest = np.setdiff1d(np.arange(len(test)), low)
    report = {
        "instances": len(test),
        "all": result.summary(),
        "bottom20_mrr": result.summary(low),
        "rest": result.summary(rest),
    }
    typer.echo(json.dumps(report, indent=2))


@app.command()
def canary(
    live: Annotated[Path, typer.Argument(help="the live model's exported artifact")],
    candidate: Annotated[Path, typer.Argument(help="the candidate's exported artifact")],
    data: Annotated[str, typer.Option(help="interaction log whose users are replayed (most recent first)")],
    fmt: Format = None,
    samples: Annotated[int, typer.Option(help="users replayed")] = 1000,
    policy: Annotated[Path | None, typer.Option(help="JSON file with canary policy fields")] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", help="policy field key=value, repeatable")] = None,
    report: Annotated[Path | None, typer.Option(help="also write the HTML report here")] = None,
) -> None:
    """The service's stability canary, offline: exit 0 when the candidate passes, 1 when it fails."""
    from service.dashboard.report import render_report
    from steadyrec.core.canary import CanaryPolicy, canary_verdict
    from steadyrec.core.formats import read_interactions
    from steadyrec.core.onnx_model import load_version
    from steadyrec.core.replay import histories_by_recency, most_recent

    with _user_errors():
        values = json.loads(policy.read_text()) if policy else {}
        chosen = CanaryPolicy.model_validate({**values, **parse_overrides(set_ or [])})
        models = [load_version(path.name, path) for path in (live, candidate)]
        rows = read_interactions(Path(data), fmt)  # type: ignore[arg-type]
        replay = [history for _, history in most_recent(histories_by_recency(rows), samples)]
        verdict = canary_verdict(models[0], models[1], replay, chosen, names=(str(live), str(candidate)))
    if report is not None:
        report.write_text(render_report(verdict), encoding="utf-8")
    typer.echo(json.dumps(verdict, indent=2))
    raise typer.Exit(code=0 if verdict["passed"] else 1)


@app.command()
def synth(
    out: Annotated[Path, typer.Option(help="TSV file to write (user, item, timestamp)")],
    users: int = 600,
    items: int = 300,
    seed: int = 7,
) -> None:
    """Write the built-in synthetic interaction log (sequential structure, for demos) as TSV."""
    from training.data.synthetic import SyntheticConfig, synthetic_interactions, write_tsv

    rows = synthetic_interactions(SyntheticConfig(n_users=users, n_items=items, seed=seed))
    write_tsv(rows, out)
    console.print(f"wrote {len(rows)} interactions to {out}")


@app.command()
def register(
    artifact: Annotated[Path, typer.Argument(help="exported artifact directory")],
    version: Annotated[str, typer.Option(help="version name: letters, digits, '.', '_', '-'")],
    models_dir: Annotated[Path, typer.Option(envvar="STEADYREC_MODELS_DIR")] = Path("var/models"),
    alias: Annotated[str | None, typer.Option(help="also point this alias (live | candidate) at it")] = None,
) -> None:
    """Copy a verified artifact into the model registry (and optionally set an alias)."""
    from steadyrec.core.registry import RegistryStore

    store = RegistryStore(models_dir)
    with _user_errors():
        store.register(artifact, version)
        if alias is not None:
            store.set_alias(alias, version, reason="steadyrec register")
    console.print(f"registered {version} in {models_dir}" + (f" as {alias}" if alias else ""))


@app.command()
def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    log_level: str = "info",
    access_log: Annotated[
        bool, typer.Option(help="a log line per request (off: it costs a noticeable share of a 1 ms request)")
    ] = False,
) -> None:
    """Run the HTTP service (settings from STEADYREC_* environment variables; see docs/service.md, "Settings")."""
    import uvicorn

    uvicorn.run(
        "service.main:create_app", factory=True, host=host, port=port, log_level=log_level, access_log=access_log
    )


@app.command()
def worker(
    concurrency: Annotated[int, typer.Option(help="jobs run at once (each uses all cores it can)")] = 1,
    log_level: str = "info",
    beat: Annotated[
        bool | None,
        typer.Option(
            "--beat/--no-beat",
            help="also run the scheduler (Celery beat) that starts scheduled jobs; default: on with the embedded "
            "broker, off with Redis (run it in exactly one worker)",
        ),
    ] = None,
) -> None:
    """Run the fine-tune worker (Celery): Redis when REDIS_URL is set, else the embedded SQLite broker."""
    import os

    from steadyrec.core.job_queue import ensure_state_dir
    from steadyrec.core.settings import get_shared_settings
    from worker.celery_app import app as celery_app

    settings = get_shared_settings()
    ensure_state_dir(settings)
    argv = [
        "worker",
        "--pool=prefork",
        f"--concurrency={concurrency}",
        f"--loglevel={log_level.upper()}",
        "--without-gossip",
        "--without-mingle",
        f"--hostname=steadyrec-{os.getpid()}@%h",
    ]
    if beat if beat is not None else not settings.redis_url:
        argv.append("--beat")
    celery_app.worker_main(argv)


if __name__ == "__main__":
    app()
