"""Charts drawn on the server as SVG: no script, nothing to load. Each is an image with an
accessible name that says what it shows; the table printed beside it carries the same figures
for screen readers and for reading exact values. Colours come from the page's style sheet
(classes `chart__*` in room.css), so they follow its light and dark themes; series differ by
shape and dash as well as colour."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

from markupsafe import Markup, escape

from app.web.language import translate

WIDTH = 400
LABEL_W = 120
ROW_H = 30
PAD = 10


@dataclass(frozen=True)
class Bar:
    label: str
    value: Fraction | None
    """0 to 1; None draws no bar."""
    text: str
    """What the bar's end says, e.g. "83.3 %"."""


def _svg(name: str, height: int, body: list[str], width: int = WIDTH) -> Markup:
    return Markup(
        '<svg class="chart__svg" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img"'
        ' aria-label="{name}" preserveAspectRatio="xMinYMin meet">{body}</svg>'
    ).format(w=width, h=height, name=name, body=Markup("".join(body)))


def _hline(x1: float, x2: float, y: float, cls: str = "chart__grid") -> str:
    return f'<line x1="{x1:.1f}" y1="{y:.1f}" x2="{x2:.1f}" y2="{y:.1f}" class="{cls}"/>'


def _text(x: float, y: float, text: str, cls: str = "chart__label", anchor: str = "start") -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" class="{cls}" text-anchor="{anchor}">{escape(text)}</text>'
    )


def _short(label: str, limit: int = 18) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"


def bar_chart(name: str, bars: Sequence[Bar], *, target: Fraction | None = None) -> Markup:
    """Horizontal bars of rates from 0 to 100 %, with the target as a dashed line."""
    plot_x, plot_w = LABEL_W, WIDTH - LABEL_W - 58
    top = 22 if target is not None else 8
    height = top + len(bars) * ROW_H + 22
    body = []
    for tick in (0, 25, 50, 75, 100):
        x = plot_x + plot_w * tick / 100
        body.append(
            f'<line x1="{x:.1f}" y1="{top - 4}" x2="{x:.1f}" y2="{top + len(bars) * ROW_H}"'
            ' class="chart__grid"/>'
        )
        body.append(_text(x, height - 6, f"{tick}%", "chart__axis", "middle"))
    for i, bar in enumerate(bars):
        y = top + i * ROW_H
        body.append(_text(plot_x - 8, y + ROW_H / 2 + 4, _short(bar.label), anchor="end"))
        w = float(plot_w * bar.value) if bar.value is not None else 0.0
        if bar.value is not None:
            body.append(
                f'<rect x="{plot_x}" y="{y + 6}" width="{w:.1f}" height="{ROW_H - 12}"'
                ' rx="3" class="chart__bar"/>'
            )
        body.append(_text(plot_x + w + 6, y + ROW_H / 2 + 4, bar.text or "none", "chart__value"))
    if target is not None:
        x = plot_x + float(plot_w * target)
        body.append(
            f'<line x1="{x:.1f}" y1="{top - 8}" x2="{x:.1f}" y2="{top + len(bars) * ROW_H + 2}"'
            ' class="chart__target"/>'
        )
        body.append(
            _text(
                x,
                12,
                translate("target {percent}", percent=percent_text(target)),
                "chart__target-label",
                "middle",
            )
        )
    return _svg(name, height, body)


def column_chart(
    name: str, bars: Sequence[Bar], *, target: Fraction | None = None, height: int = 170
) -> Markup:
    """Vertical bars of rates over meetings (labels under each), with the target line."""
    left, right, top, bottom = 36, 8, 16, 24
    plot_w, plot_h = WIDTH - left - right, height - top - bottom
    body = []
    for tick in (0, 50, 100):
        y = top + plot_h * (1 - tick / 100)
        body.append(_hline(left, WIDTH - right, y))
        body.append(_text(left - 5, y + 4, f"{tick}%", "chart__axis", "end"))
    slot = plot_w / max(len(bars), 1)
    bar_w = min(slot * 0.6, 44)
    for i, bar in enumerate(bars):
        cx = left + slot * (i + 0.5)
        if bar.value is not None:
            h = float(plot_h * bar.value)
            body.append(
                f'<rect x="{cx - bar_w / 2:.1f}" y="{top + plot_h - h:.1f}" width="{bar_w:.1f}"'
                f' height="{h:.1f}" rx="2" class="chart__bar"/>'
            )
        body.append(_text(cx, height - 7, bar.label, "chart__axis", "middle"))
    if target is not None:
        y = top + float(plot_h * (1 - target))
        body.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{WIDTH - right}" y2="{y:.1f}"'
            ' class="chart__target"/>'
        )
        label = translate("target {percent}", percent=percent_text(target))
        body.append(_text(WIDTH - right, y - 4, label, "chart__target-label", "end"))
    return _svg(name, height, body)


@dataclass(frozen=True)
class Series:
    name: str
    points: Sequence[Fraction | None]


MARKERS = ("circle", "square", "diamond")


def line_chart(
    name: str,
    labels: Sequence[str],
    series: Sequence[Series],
    *,
    low: int = 1,
    high: int = 5,
    height: int = 200,
) -> Markup:
    """Scores over meetings, one line per series, each its own colour, dash and marker."""
    left, right, top, bottom = 28, 10, 28, 24
    plot_w, plot_h = WIDTH - left - right, height - top - bottom
    body = []
    for tick in range(low, high + 1):
        y = top + plot_h * (1 - (tick - low) / (high - low))
        body.append(_hline(left, WIDTH - right, y))
        body.append(_text(left - 6, y + 4, str(tick), "chart__axis", "end"))
    slot = plot_w / max(len(labels), 1)
    for i, label in enumerate(labels):
        body.append(_text(left + slot * (i + 0.5), height - 7, label, "chart__axis", "middle"))
    for k, s in enumerate(series):
        cls = f"chart__series chart__series--{k + 1}"
        points = [
            (left + slot * (i + 0.5), top + float(plot_h * (1 - (v - low) / (high - low))))
            for i, v in enumerate(s.points)
            if v is not None
        ]
        if len(points) > 1:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
            body.append(f'<polyline points="{path}" class="{cls} chart__line"/>')
        for x, y in points:
            body.append(_marker(MARKERS[k % len(MARKERS)], x, y, cls))
        # The legend, across the top.
        lx = left + k * 120
        body.append(_marker(MARKERS[k % len(MARKERS)], lx + 5, 12, cls))
        body.append(
            f'<line x1="{lx - 4}" y1="12" x2="{lx + 14}" y2="12" class="{cls} chart__line"/>'
        )
        body.append(_text(lx + 20, 16, s.name, "chart__label"))
    return _svg(name, height, body)


def _marker(shape: str, x: float, y: float, cls: str) -> str:
    if shape == "square":
        return f'<rect x="{x - 4:.1f}" y="{y - 4:.1f}" width="8" height="8" class="{cls}"/>'
    if shape == "diamond":
        return (
            f'<polygon points="{x:.1f},{y - 5.5:.1f} {x + 5.5:.1f},{y:.1f} {x:.1f},{y + 5.5:.1f}'
            f' {x - 5.5:.1f},{y:.1f}" class="{cls}"/>'
        )
    return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4.5" class="{cls}"/>'


@dataclass(frozen=True)
class Stack:
    label: str
    parts: Sequence[int]


def stacked_chart(name: str, stacks: Sequence[Stack], part_names: Sequence[str]) -> Markup:
    """Horizontal bars split into parts (e.g. commitments done, partly, ...), each bar scaled
    to the largest total; a legend names the parts by colour and pattern order."""
    plot_x = LABEL_W
    plot_w = WIDTH - LABEL_W - 40
    legend_rows = (len(part_names) + 2) // 3
    top = 8 + legend_rows * 18
    height = top + len(stacks) * ROW_H + 6
    biggest = max((sum(s.parts) for s in stacks), default=0) or 1
    body = []
    for k, part in enumerate(part_names):
        lx = 8 + (k % 3) * 130
        ly = 6 + (k // 3) * 18
        body.append(
            f'<rect x="{lx}" y="{ly}" width="12" height="12" rx="2"'
            f' class="chart__part chart__part--{k + 1}"/>'
        )
        body.append(_text(lx + 17, ly + 10, part, "chart__label"))
    for i, stack in enumerate(stacks):
        y = top + i * ROW_H
        body.append(_text(plot_x - 8, y + ROW_H / 2 + 4, _short(stack.label), anchor="end"))
        x = float(plot_x)
        for k, count in enumerate(stack.parts):
            if count <= 0:
                continue
            w = plot_w * count / biggest
            body.append(
                f'<rect x="{x:.1f}" y="{y + 6}" width="{w:.1f}" height="{ROW_H - 12}"'
                f' class="chart__part chart__part--{k + 1}"/>'
            )
            x += w
        body.append(_text(x + 6, y + ROW_H / 2 + 4, str(sum(stack.parts)), "chart__value"))
    return _svg(name, height, body)


def percent_text(value: Fraction) -> str:
    whole = value * 100
    return f"{int(whole)}%" if whole.denominator == 1 else f"{float(whole):.1f}%"
