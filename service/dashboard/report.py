"""The canary report: the verdict in words, the failed conditions first, rounded figures, and the RBO /
Jaccard distributions per user group with the policy's thresholds drawn on them. One renderer for the
standalone page (``GET /models/{version}/canary?format=html``, styles inlined) and the dashboard's."""

from __future__ import annotations

from typing import Any

from service.dashboard.charts import Marker, histogram
from service.dashboard.templating import render, stylesheet

__all__ = ["render_report", "report_context"]


def _markers(stats: dict[str, Any], thresholds: list[tuple[str, Any]]) -> list[Marker]:
    markers = [Marker(float(v), f"{name} {float(v):.2f}", True) for name, v in thresholds if v is not None]
    for name in ("mean", "p10"):
        if stats.get(name) is not None:
            markers.append(Marker(float(stats[name]), f"{name} {float(stats[name]):.2f}", False))
    return markers


def _accuracy(accuracy: dict[str, Any]) -> list[tuple[str, str]]:
    rows = []
    for key, value in accuracy.items():
        if isinstance(value, list | tuple) and all(isinstance(v, int | float) for v in value):
            text = "[" + ", ".join(f"{v:.4f}" for v in value) + "]"
        elif isinstance(value, float):
            text = f"{value:.4f}"
        else:
            text = str(value)
        rows.append((str(key), text))
    return rows


def report_context(verdict: dict[str, Any]) -> dict[str, Any]:
    policy = verdict.get("policy", {})
    figures = verdict.get("figures", {})
    groups = []
    for name, group in figures.get("groups", {}).items():
        rbo, jaccard = group.get("rbo", {}), group.get("jaccard", {})
        groups.append(
            {
                "name": name.replace("_", " "),
                "rbo": rbo,
                "jaccard": jaccard,
                "rbo_plot": histogram(
                    f"RBO_ext (p = {policy.get('p', 0.9)})",
                    rbo.get("histogram") or [],
                    _markers(rbo, [("min mean", policy.get("min_mean_rbo")), ("min p10", policy.get("min_p10_rbo"))]),
                ),
                "jaccard_plot": histogram(
                    f"Jaccard@{policy.get('k', 10)}",
                    jaccard.get("histogram") or [],
                    _markers(jaccard, [("min mean", policy.get("min_mean_jaccard"))]),
                ),
            }
        )
    return {
        "verdict": verdict,
        "passed": bool(verdict.get("passed")),
        "groups": groups,
        "accuracy": _accuracy(figures.get("accuracy", {})),
        "rbo_ci": figures.get("rbo_mean_ci95"),
    }


def render_report(verdict: dict[str, Any]) -> str:
    """The standalone page: no external asset, so it renders anywhere (saved to a file, mailed)."""
    return render("report.html", css=stylesheet(), **report_context(verdict))
