"""Line charts as SVG (pure): a figure per week, one line per group, drawn on the server.

Each chart is a `role="img"` with a `<title>` and a `<desc>` that says what the lines do in words; the
page also puts a table with the same numbers under it. Series are told apart by colour *and* dash
pattern (CSS classes `s0`…`s5`), so the chart reads without colour vision; every point carries a
`<title>` with its exact value. Gaps (weeks without data) break a line rather than dropping to zero.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape

WIDTH, HEIGHT = 640, 240
LEFT, RIGHT, TOP, BOTTOM = 72, 16, 14, 34
PLOT_W = WIDTH - LEFT - RIGHT
PLOT_H = HEIGHT - TOP - BOTTOM
TICKS = 4  # at most this many steps above zero on the y axis
MAX_X_LABELS = 8
SERIES_STYLES = 6  # s0…s5 in console.css
# Steps a duration axis may use: round seconds, minutes, hours and days.
DURATION_STEPS = (1, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10_800, 21_600, 43_200, 86_400)
PERCENT_STEPS = (5, 10, 25)

Format = Callable[[float], str]


@dataclass(frozen=True)
class Series:
    """One line: a name for the legend and one value (or None: no data) per x label."""

    name: str
    values: tuple[float | None, ...]


@dataclass(frozen=True)
class Axis:
    step: float
    top: float

    @property
    def ticks(self) -> list[float]:
        return [self.step * i for i in range(round(self.top / self.step) + 1)]


def axis(maximum: float, steps: Sequence[float], *, top: float | None = None) -> Axis:
    """The y axis: the smallest step from `steps` that reaches `maximum` within TICKS ticks (or a fixed top)."""
    if top is not None:
        step = next((s for s in steps if top / s <= TICKS), top)
        return Axis(step, top)
    if maximum <= 0:
        return Axis(steps[0], steps[0])
    fits = [s for s in steps if math.ceil(maximum / s) <= TICKS]
    step = fits[0] if fits else steps[-1]
    while math.ceil(maximum / step) > TICKS:  # beyond the table: keep doubling the largest step
        step *= 2
    return Axis(step, step * math.ceil(maximum / step))


def x_at(index: int, count: int) -> float:
    """Where the `index`-th of `count` labels sits (a single label is centred)."""
    if count <= 1:
        return LEFT + PLOT_W / 2
    return LEFT + PLOT_W * index / (count - 1)


def y_at(value: float, top: float) -> float:
    return TOP + PLOT_H * (1 - value / top)


def _n(value: float) -> str:
    return f"{value:.1f}".removesuffix(".0")


def _safe_id(ident: str) -> str:
    return re.sub(r"[^a-z0-9-]", "-", ident.lower())


def describe(labels: Sequence[str], series: Sequence[Series], fmt: Format) -> str:
    """The chart in words: per line, where it starts and ends and its highest point."""
    if not labels:
        return "No weeks in this range."
    parts = []
    for s in series:
        points = [(label, v) for label, v in zip(labels, s.values, strict=True) if v is not None]
        if not points:
            parts.append(f"{s.name}: no data")
            continue
        high_label, high = max(points, key=lambda p: p[1])
        parts.append(
            f"{s.name}: {fmt(points[0][1])} in the week of {points[0][0]}, {fmt(points[-1][1])} in the week of "
            f"{points[-1][0]}, highest {fmt(high)} (week of {high_label})"
        )
    span = f"Weekly from {labels[0]} to {labels[-1]}. "
    return span + ("; ".join(parts) + "." if any(v is not None for s in series for v in s.values) else "No data.")


def _grid(ax: Axis, fmt: Format) -> list[str]:
    out = ['<g class="grid">']
    for tick in ax.ticks:
        y = _n(y_at(tick, ax.top))
        out.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y}" y2="{y}"/>')
        out.append(f'<text class="tick" x="{LEFT - 6}" y="{y}" text-anchor="end" dy="4">{escape(fmt(tick))}</text>')
    out.append("</g>")
    return out


def _x_labels(labels: Sequence[str]) -> list[str]:
    every = max(1, math.ceil(len(labels) / MAX_X_LABELS))
    out = ['<g class="x-labels">']
    for i, label in enumerate(labels):
        if i % every == 0:
            out.append(
                f'<text class="tick" x="{_n(x_at(i, len(labels)))}" y="{HEIGHT - 10}" '
                f'text-anchor="middle">{escape(label)}</text>'
            )
    out.append("</g>")
    return out


def _line(number: int, s: Series, labels: Sequence[str], ax: Axis, fmt: Format) -> str:
    count = len(labels)
    segments: list[list[tuple[float, float]]] = [[]]
    points = []
    for i, value in enumerate(s.values):
        if value is None:
            segments.append([])
            continue
        x, y = x_at(i, count), y_at(value, ax.top)
        segments[-1].append((x, y))
        tip = escape(f"{s.name}, week of {labels[i]}: {fmt(value)}")
        points.append(f'<circle cx="{_n(x)}" cy="{_n(y)}" r="3.5" data-value="{value:g}"><title>{tip}</title></circle>')
    paths = [
        '<path d="' + " ".join(f"{'M' if j == 0 else 'L'}{_n(x)} {_n(y)}" for j, (x, y) in enumerate(seg)) + '"/>'
        for seg in segments
        if len(seg) > 1
    ]
    name = escape(s.name, quote=True)
    return f'<g class="series s{number % SERIES_STYLES}" data-series="{name}">' + "".join(paths + points) + "</g>"


def line_chart(
    *,
    ident: str,
    title: str,
    desc: str,
    labels: Sequence[str],
    series: Sequence[Series],
    fmt: Format,
    steps: Sequence[float] = DURATION_STEPS,
    top: float | None = None,
) -> str:
    """An inline <svg>: one line per series over `labels`, y from zero; every string in it is escaped."""
    for s in series:
        if len(s.values) != len(labels):
            raise ValueError(f"series {s.name!r} has {len(s.values)} values for {len(labels)} labels")
    values = [v for s in series for v in s.values if v is not None]
    ax = axis(max(values, default=0.0), steps, top=top)
    ident = _safe_id(ident)
    words = f"{desc} {describe(labels, series, fmt)}".strip()
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-labelledby="{ident}-title {ident}-desc" data-top="{ax.top:g}">',
        f'<title id="{ident}-title">{escape(title)}</title>',
        f'<desc id="{ident}-desc">{escape(words)}</desc>',
        *_grid(ax, fmt),
        f'<line class="axis" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{TOP + PLOT_H}" y2="{TOP + PLOT_H}"/>',
        *_x_labels(labels),
    ]
    if values:
        out += [_line(number, s, labels, ax, fmt) for number, s in enumerate(series)]
    else:
        out.append(
            f'<text class="empty" x="{LEFT + PLOT_W / 2:g}" y="{TOP + PLOT_H / 2:g}" text-anchor="middle">'
            "No data in this range</text>"
        )
    out.append("</svg>")
    return "".join(out)
