"""Plots as inline SVG, drawn on the server: line charts over versions or days, and histograms of [0, 1]
values with the policy's thresholds. No script and no external asset, so a page renders offline."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

__all__ = ["Marker", "histogram", "line_chart"]

COLOURS = ("#4a78b5", "#d9822b", "#3a9a4a", "#c0392b", "#8e44ad", "#7f8c8d")
LEFT, RIGHT, TOP, BOTTOM = 44, 28, 12, 24


@dataclass(frozen=True)
class Marker:
    """A vertical line on a histogram: a threshold (dashed) or a measured figure (solid)."""

    value: float
    label: str
    threshold: bool


def _ticks(low: float, high: float) -> list[float]:
    if high <= low:
        return [low]
    step = 10 ** math.floor(math.log10((high - low) / 2))
    for factor in (1, 2, 5, 10):
        if (high - low) / (step * factor) <= 5:
            step *= factor
            break
    first = math.ceil(low / step) * step
    return [round(first + i * step, 10) for i in range(int((high - first) / step + 1e-9) + 1)]


def line_chart(
    title: str,
    series: dict[str, Sequence[float | None]],
    x_labels: Sequence[str],
    width: int = 640,
    height: int = 220,
    y_range: tuple[float, float] | None = None,
) -> str:
    """One polyline per series over the positions of ``x_labels`` (a None value leaves a gap)."""
    values = [v for points in series.values() for v in points if v is not None]
    if not values or not x_labels:
        return (
            f'<figure class="chart"><figcaption>{escape(title)}</figcaption><p class="empty">no data yet</p></figure>'
        )
    low, high = y_range if y_range is not None else (min(values), max(values))
    if high <= low:
        low, high = low - 0.5, high + 0.5
    inner_w, inner_h = width - LEFT - RIGHT, height - TOP - BOTTOM
    n = len(x_labels)

    def x(i: int) -> float:
        return LEFT + (inner_w * i / (n - 1) if n > 1 else inner_w / 2)

    def y(v: float) -> float:
        return TOP + inner_h * (1 - (v - low) / (high - low))

    parts = [f'<line class="axis" x1="{LEFT}" y1="{TOP + inner_h}" x2="{LEFT + inner_w}" y2="{TOP + inner_h}"/>']
    for tick in _ticks(low, high):
        parts.append(
            f'<line class="grid" x1="{LEFT}" y1="{y(tick):.1f}" x2="{LEFT + inner_w}" y2="{y(tick):.1f}"/>'
            f'<text class="tick" x="{LEFT - 4}" y="{y(tick) + 4:.1f}" text-anchor="end">{tick:g}</text>'
        )
    every = max(1, math.ceil(n / 10))
    for i, label in enumerate(x_labels):
        if i % every == 0 or i == n - 1:
            parts.append(
                f'<text class="tick" x="{x(i):.1f}" y="{TOP + inner_h + 14}" text-anchor="middle">'
                f"{escape(label[:12])}</text>"
            )
    legend = []
    for k, (name, points) in enumerate(series.items()):
        colour = COLOURS[k % len(COLOURS)]
        swatch = f'<span class="swatch" style="background:{colour}"></span>'
        legend.append(f'<span class="key">{swatch}{escape(name)}</span>')
        runs: list[list[str]] = [[]]
        for i, v in enumerate(points):
            if v is None:
                runs.append([])
                continue
            runs[-1].append(f"{x(i):.1f},{y(v):.1f}")
            parts.append(
                f'<circle class="point" cx="{x(i):.1f}" cy="{y(v):.1f}" r="3" fill="{colour}">'
                f"<title>{escape(name)} @ {escape(x_labels[i])}: {v:.4g}</title></circle>"
            )
        for run in runs:
            if len(run) > 1:
                parts.append(f'<polyline class="line" fill="none" stroke="{colour}" points="{" ".join(run)}"/>')
    return (
        f'<figure class="chart"><figcaption>{escape(title)}</figcaption>'
        f'<svg class="line-chart" width="{width}" height="{height}" role="img" aria-label="{escape(title)}">'
        f'{"".join(parts)}</svg><div class="legend">{"".join(legend)}</div></figure>'
    )


BAR_W, BAR_H, PAD = 28, 120, 4


def histogram(title: str, counts: Sequence[int], markers: Sequence[Marker] = ()) -> str:
    """Ten bins over [0, 1], with a vertical line per marker (thresholds dashed and red)."""
    top = max(counts) if counts and max(counts) > 0 else 1
    width = PAD * 2 + BAR_W * max(len(counts), 1)
    bars = []
    for i, count in enumerate(counts):
        h = round(BAR_H * count / top)
        bars.append(
            f'<rect class="bar" x="{PAD + i * BAR_W}" y="{PAD + BAR_H - h}" width="{BAR_W - 3}" height="{h}">'
            f"<title>{i / 10:.1f}-{(i + 1) / 10:.1f}: {count}</title></rect>"
        )
    lines = []
    for k, marker in enumerate(markers):
        position = PAD + min(max(marker.value, 0.0), 1.0) * BAR_W * len(counts)
        kind = "threshold" if marker.threshold else "figure"
        right = marker.value > 0.5  # the label goes on the side with room
        lines.append(
            f'<line class="{kind}" x1="{position:.1f}" y1="{PAD}" x2="{position:.1f}" y2="{PAD + BAR_H}">'
            f"<title>{escape(marker.label)}</title></line>"
            f'<text class="{kind}-label" x="{position + (-2 if right else 2):.1f}" y="{PAD + 10 + 11 * k}"'
            f' text-anchor="{"end" if right else "start"}">{escape(marker.label)}</text>'
        )
    axis = f'<text x="{PAD}" y="{BAR_H + PAD + 14}">0</text><text x="{width - PAD - 8}" y="{BAR_H + PAD + 14}">1</text>'
    return (
        f"<figure><figcaption>{escape(title)}</figcaption>"
        f'<svg class="hist" width="{width}" height="{BAR_H + PAD + 20}" role="img" aria-label="{escape(title)}">'
        f"{''.join(bars)}{''.join(lines)}{axis}</svg></figure>"
    )
