"""Write a benchmark's table twice in its study's results folder (``benchmarks/<study>/results/``): NAME.md
(table, date, machine, command) and NAME.json (``{"benchmark", "date", "machine", "command", "rows"}``, one
flat row per configuration). Each script passes its folder: ``folder=results_dir(__file__)``."""

from __future__ import annotations

import json
import os
import platform
import shlex
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


def results_dir(module_file: str) -> Path:
    """The results folder of the study that ``module_file`` (a script's ``__file__``) belongs to."""
    return Path(module_file).resolve().parent / "results"


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores, {cpu}, Python {platform.python_version()}"
    )


def command() -> str:
    """The command line as it was typed: ``python -m benchmarks.<study>.<script> ARGS`` when run as a module."""
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    program = f"-m {spec.name}" if spec is not None else shlex.quote(sys.argv[0])
    return " ".join(["python", program, *(shlex.quote(a) for a in sys.argv[1:])])


def markdown_table(rows: list[dict[str, Any]]) -> str:
    keys: list[str] = []
    for row in rows:
        keys += [k for k in row if k not in keys]

    def cell(v: Any) -> str:
        return f"{v:.4f}" if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += ["| " + " | ".join(cell(r.get(k, "")) for k in keys) + " |" for r in rows]
    return "\n".join(lines)


def write_results(name: str, rows: list[dict[str, Any]], notes: str = "", *, folder: Path) -> Path:
    """Print the table and write NAME.md and NAME.json into ``folder``; returns the markdown path."""
    folder.mkdir(parents=True, exist_ok=True)
    date = datetime.now(UTC).isoformat(timespec="seconds")
    table = markdown_table(rows)
    print(table)
    md = folder / f"{name}.md"
    md.write_text(
        f"# {name}\n\n- date: {date}\n- machine: {machine()}\n- command: `{command()}`\n\n{table}\n"
        + (f"\n{notes}\n" if notes else ""),
        encoding="utf-8",
    )
    payload = {"benchmark": name, "date": date, "machine": machine(), "command": command(), "rows": rows}
    (folder / f"{name}.json").write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    return md


def merge_results(name: str, sources: list[str], notes_file: Path | None = None, *, folder: Path) -> Path:
    """Write NAME from the rows of earlier results SOURCES in ``folder`` (each row tagged with its `source`),
    with their notes pointed at and ``notes_file``'s text below."""
    rows = [
        {**row, "source": source}
        for source in sources
        for row in json.loads((folder / f"{source}.json").read_text(encoding="utf-8"))["rows"]
    ]
    listed = ", ".join(f"`{source}`" for source in sources)
    extra = notes_file.read_text(encoding="utf-8") if notes_file else ""
    return write_results(name, rows, notes=f"Merged from {listed} (see their notes).\n\n{extra}".strip(), folder=folder)
