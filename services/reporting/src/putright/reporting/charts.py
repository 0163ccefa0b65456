"""Bar charts as inline SVG, drawn on the server so they need no JavaScript.

Hand-written rather than a plotting library: the charts are plain bars with labels,
the output must be small inline markup with no external files, and the same SVG has
to render in a browser and in weasyprint's PDF.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from markupsafe import Markup, escape

# Colours with at least 4.5:1 contrast on white, distinguishable without colour vision.
PALETTE = ("#1d4f91", "#b35900", "#2e7d32", "#6a1b9a", "#455a64")
WIDTH, HEIGHT = 640, 300
LEFT, RIGHT, TOP, BOTTOM = 48, 12, 36, 64


@dataclass(frozen=True)
class Series:
    """One set of bars."""

    name: str
    values: list[float]


def _nice_top(value: float) -> float:
    """A round axis maximum at or above `value`."""
    if value <= 0:
        return 1
    magnitude = 10.0 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * magnitude:
            return float(step * magnitude)
    return float(10 * magnitude)


def _number(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def bar_chart(
    title: str,
    labels: list[str],
    series: list[Series],
    *,
    target: float | None = None,
    target_label: str = "target",
    maximum: float | None = None,
) -> Markup:
    """Grouped vertical bars, each labelled with its value, and an optional target line."""
    values = [value for one in series for value in one.values]
    top = maximum or _nice_top(max([*values, target or 0, 0]))
    if maximum is None and all(float(value).is_integer() for value in values):
        top = max(top, 4.0)  # whole-number ticks for small counts
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    group_w = plot_w / max(len(labels), 1)
    bar_w = group_w * 0.8 / max(len(series), 1)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'role="img" aria-label="{escape(title)}" class="chart">',
        f"<title>{escape(title)}</title>",
    ]
    for tick in range(5):
        value = top * tick / 4
        y = TOP + plot_h - plot_h * tick / 4
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ccc"/>'
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="12">'
            f"{_number(value)}</text>"
        )
    for group, label in enumerate(labels):
        x0 = LEFT + group * group_w + group_w * 0.1
        for index, one in enumerate(series):
            value = one.values[group]
            height = plot_h * min(value, top) / top
            x, y = x0 + index * bar_w, TOP + plot_h - height
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w * 0.92:.1f}" height="{height:.1f}" '
                f'fill="{PALETTE[index % len(PALETTE)]}"><title>{escape(one.name)} '
                f"{escape(label)}: {_number(value)}</title></rect>"
            )
            if len(labels) * len(series) <= 24:
                parts.append(
                    f'<text x="{x + bar_w * 0.46:.1f}" y="{y - 4:.1f}" text-anchor="middle" '
                    f'font-size="11">{_number(value)}</text>'
                )
        parts.append(
            f'<text x="{x0 + group_w * 0.4:.1f}" y="{TOP + plot_h + 16}" text-anchor="middle" '
            f'font-size="11">{escape(label)}</text>'
        )
    if target is not None:
        y = TOP + plot_h - plot_h * min(target, top) / top
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="#b00020" stroke-width="2" stroke-dasharray="6 4"/>'
            f'<text x="{WIDTH - RIGHT}" y="{y - 5:.1f}" text-anchor="end" font-size="12" '
            f'fill="#b00020">{escape(target_label)}</text>'
        )
    legend_y = HEIGHT - 18
    for index, one in enumerate(series):
        x = LEFT + index * 190
        parts.append(
            f'<rect x="{x}" y="{legend_y - 10}" width="12" height="12" '
            f'fill="{PALETTE[index % len(PALETTE)]}"/>'
            f'<text x="{x + 18}" y="{legend_y}" font-size="12">{escape(one.name)}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every text inside was escaped above
