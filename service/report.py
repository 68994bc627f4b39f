"""The HTML canary report: the verdict in words, every figure, and the RBO / Jaccard distributions per
user group as inline SVG histograms (no external assets, so the page renders anywhere)."""

from __future__ import annotations

from html import escape
from typing import Any

__all__ = ["render_report"]

BAR_W, BAR_H, PAD = 28, 120, 4


def _histogram(title: str, stats: dict[str, Any]) -> str:
    counts = stats.get("histogram") or []
    top = max(counts) if counts and max(counts) > 0 else 1
    bars = []
    for i, count in enumerate(counts):
        h = round(BAR_H * count / top)
        x = PAD + i * BAR_W
        bars.append(
            f'<rect class="bar" x="{x}" y="{PAD + BAR_H - h}" width="{BAR_W - 3}" height="{h}">'
            f"<title>{i / 10:.1f}-{(i + 1) / 10:.1f}: {count}</title></rect>"
        )
    width = PAD * 2 + BAR_W * max(len(counts), 1)
    axis = f'<text x="{PAD}" y="{BAR_H + PAD + 14}">0</text><text x="{width - PAD - 8}" y="{BAR_H + PAD + 14}">1</text>'
    mean = "n/a" if stats.get("mean") is None else f"{stats['mean']:.4f}"
    p10 = "n/a" if stats.get("p10") is None else f"{stats['p10']:.4f}"
    return (
        f"<figure><figcaption>{escape(title)} (n = {stats.get('n', 0)}, mean {mean}, p10 {p10})</figcaption>"
        f'<svg class="hist" width="{width}" height="{BAR_H + PAD + 20}" role="img" aria-label="{escape(title)}">'
        f"{''.join(bars)}{axis}</svg></figure>"
    )


def render_report(verdict: dict[str, Any]) -> str:
    passed = bool(verdict.get("passed"))
    groups = verdict.get("figures", {}).get("groups", {})
    accuracy = verdict.get("figures", {}).get("accuracy", {})
    words = (
        f"Candidate {verdict.get('candidate')} PASSES the stability canary against live {verdict.get('live')}."
        if passed
        else f"Candidate {verdict.get('candidate')} FAILS the stability canary against live {verdict.get('live')}."
    )
    failures = "".join(f"<li>{escape(f)}</li>" for f in verdict.get("failures", [])) or "<li>none</li>"
    plots = "".join(
        f"<section><h3>{escape(name.replace('_', ' '))}</h3>"
        f"{_histogram('RBO_ext (p = ' + str(verdict.get('policy', {}).get('p', 0.9)) + ')', g['rbo'])}"
        f"{_histogram('Jaccard@' + str(verdict.get('policy', {}).get('k', 10)), g['jaccard'])}</section>"
        for name, g in groups.items()
    )
    accuracy_rows = "".join(f"<tr><td>{escape(str(k))}</td><td>{escape(str(v))}</td></tr>" for k, v in accuracy.items())
    policy_rows = "".join(
        f"<tr><td>{escape(str(k))}</td><td>{escape(str(v))}</td></tr>" for k, v in verdict.get("policy", {}).items()
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Canary: {escape(str(verdict.get("candidate")))}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem; color: #222; }}
.verdict {{ font-size: 1.3rem; padding: .8rem 1rem; border-radius: 6px; }}
.pass {{ background: #e3f6e5; border: 1px solid #3a9a4a; }} .fail {{ background: #fbe6e6; border: 1px solid #c0392b; }}
section {{ display: inline-block; vertical-align: top; margin: 1rem 2rem 1rem 0; }}
svg.hist rect.bar {{ fill: #4a78b5; }} svg.hist text {{ font-size: 11px; fill: #555; }}
table {{ border-collapse: collapse; }} td {{ border: 1px solid #ddd; padding: .2rem .6rem; }}
</style></head><body>
<h1>Stability canary</h1>
<p class="verdict {"pass" if passed else "fail"}" id="verdict">{escape(words)}</p>
<p>{escape(str(verdict.get("samples")))} replayed users, {escape(str(verdict.get("created_at")))}.</p>
<h2>Failed conditions</h2><ul id="failures">{failures}</ul>
<h2>Rank-list agreement by user group</h2>{plots}
<h2>Accuracy on the held-out replay</h2><table>{accuracy_rows}</table>
<h2>Policy</h2><table>{policy_rows}</table>
</body></html>"""
