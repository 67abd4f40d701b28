"""Server-side SVG charts: bars, lines and horizontal bars, each mark a link to the conversations behind it.

No JavaScript and nothing to vendor: the page is readable as it arrives, prints, and a test can read
every plotted value back from the marks' `data-value` attributes. Values are drawn to scale from zero.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

WIDTH = 720
HEIGHT = 220
PAD_LEFT = 56
PAD_RIGHT = 12
PAD_TOP = 14
PAD_BOTTOM = 38
COLORS = ("#2b6cb0", "#0b6e4f", "#b54708", "#6b46c1")


@dataclass(frozen=True)
class Point:
    """One plotted value: its axis label, the number, how to print it, and where a click goes."""

    key: str
    label: str
    value: float | None
    text: str
    href: str = ""


@dataclass(frozen=True)
class Series:
    name: str
    points: Sequence[Point]
    color: str = ""


@dataclass(frozen=True)
class Target:
    """A horizontal line at the roadmap's target (e.g. 0.05 for "< 5 %")."""

    value: float
    label: str


@dataclass
class _Frame:
    maximum: float
    count: int
    plot_width: float = field(init=False)
    plot_height: float = field(init=False)

    def __post_init__(self) -> None:
        self.plot_width = WIDTH - PAD_LEFT - PAD_RIGHT
        self.plot_height = HEIGHT - PAD_TOP - PAD_BOTTOM

    def y(self, value: float) -> float:
        return PAD_TOP + self.plot_height * (1 - (value / self.maximum if self.maximum else 0))

    def slot(self, index: int) -> tuple[float, float]:
        width = self.plot_width / max(self.count, 1)
        return PAD_LEFT + index * width, width


def _maximum(values: list[float], targets: Sequence[Target]) -> float:
    top = max([*values, *(t.value for t in targets), 0.0])
    return top * 1.1 if top > 0 else 1.0


def _axis(frame: _Frame, labels: Sequence[str], axis_text: str, targets: Sequence[Target]) -> list[str]:
    parts = [
        f'<line x1="{PAD_LEFT}" y1="{PAD_TOP + frame.plot_height}" x2="{WIDTH - PAD_RIGHT}" '
        f'y2="{PAD_TOP + frame.plot_height}" class="axis"/>',
        f'<text x="4" y="{PAD_TOP + 10}" class="tick">{escape(axis_text)}</text>',
    ]
    # Label at most ~12 slots so the axis stays readable at 30 days of 24 hours.
    every = max(1, len(labels) // 12 + (1 if len(labels) % 12 else 0))
    for index, label in enumerate(labels):
        if index % every:
            continue
        x, width = frame.slot(index)
        parts.append(
            f'<text x="{x + width / 2:.1f}" y="{HEIGHT - PAD_BOTTOM + 16}" class="tick" '
            f'text-anchor="middle">{escape(label)}</text>'
        )
    for target in targets:
        y = frame.y(target.value)
        parts.append(
            f'<line x1="{PAD_LEFT}" y1="{y:.1f}" x2="{WIDTH - PAD_RIGHT}" y2="{y:.1f}" class="target" '
            f'data-target="{target.value}"/>'
            f'<text x="{WIDTH - PAD_RIGHT - 4}" y="{y - 4:.1f}" class="target-label" text-anchor="end">'
            f"{escape(target.label)}</text>"
        )
    return parts


def _framed(series: Sequence[Series], axis_text: str, targets: Sequence[Target]) -> tuple[_Frame, list[str]]:
    """The frame scaled to every series' values and targets, and the axis drawn in it."""
    labels = [point.label for point in series[0].points] if series else []
    values = [float(p.value) for s in series for p in s.points if p.value is not None]
    frame = _Frame(maximum=_maximum(values, targets), count=len(labels))
    return frame, _axis(frame, labels, axis_text, targets)


def _svg(chart_id: str, title: str, parts: list[str], *, height: int = HEIGHT) -> SafeString:
    body = "".join(parts)
    return mark_safe(  # noqa: S308 - every dynamic value above went through escape()
        f'<svg id="{escape(chart_id)}" class="chart" viewBox="0 0 {WIDTH} {height}" role="img" '
        f'aria-label="{escape(title)}" preserveAspectRatio="xMidYMid meet">'
        f"<title>{escape(title)}</title>{body}</svg>"
    )


def _mark(point: Point, series: str, shape: str) -> str:
    value = "" if point.value is None else repr(float(point.value))
    inner = f"{shape}<title>{escape(point.label)}: {escape(point.text)}</title>"
    mark = (
        f'<g class="mark" data-series="{escape(series)}" data-key="{escape(point.key)}" data-value="{value}">'
        f"{inner}</g>"
    )
    if point.href:
        return f'<a href="{escape(point.href)}">{mark}</a>'
    return mark


def bar_chart(
    chart_id: str,
    title: str,
    series: Sequence[Series],
    *,
    axis_text: str = "",
    targets: Sequence[Target] = (),
) -> SafeString:
    """Vertical bars, one group per key, one bar per series."""
    frame, parts = _framed(series, axis_text, targets)
    for series_index, one in enumerate(series):
        color = one.color or COLORS[series_index % len(COLORS)]
        for index, point in enumerate(one.points):
            x, width = frame.slot(index)
            bar_width = max(1.0, width * 0.8 / len(series))
            left = x + width * 0.1 + series_index * bar_width
            value = float(point.value or 0)
            top = frame.y(value)
            height = PAD_TOP + frame.plot_height - top
            shape = (
                f'<rect x="{left:.1f}" y="{top:.1f}" width="{bar_width:.1f}" height="{max(height, 0):.1f}" '
                f'fill="{color}"/>'
                # An invisible full-height band keeps a zero bar clickable.
                f'<rect x="{left:.1f}" y="{PAD_TOP}" width="{bar_width:.1f}" height="{frame.plot_height:.1f}" '
                f'fill="transparent"/>'
            )
            parts.append(_mark(point, one.name, shape))
    return _svg(chart_id, title, parts)


def line_chart(
    chart_id: str,
    title: str,
    series: Sequence[Series],
    *,
    axis_text: str = "",
    targets: Sequence[Target] = (),
) -> SafeString:
    """Lines with a dot per value; gaps where a bucket has no data (None)."""
    frame, parts = _framed(series, axis_text, targets)
    for series_index, one in enumerate(series):
        color = one.color or COLORS[series_index % len(COLORS)]
        path: list[str] = []
        dots: list[str] = []
        for index, point in enumerate(one.points):
            x, width = frame.slot(index)
            center = x + width / 2
            if point.value is None:
                path.append("")
                dots.append(_mark(point, one.name, ""))
                continue
            y = frame.y(float(point.value))
            path.append(f"{center:.1f},{y:.1f}")
            dots.append(_mark(point, one.name, f'<circle cx="{center:.1f}" cy="{y:.1f}" r="4" fill="{color}"/>'))
        for run in " ".join(p or "|" for p in path).split("|"):
            if run.strip():
                parts.append(f'<polyline points="{run.strip()}" fill="none" stroke="{color}" stroke-width="2"/>')
        parts.extend(dots)
    return _svg(chart_id, title, parts)


def hbar_chart(chart_id: str, title: str, points: Sequence[Point], *, color: str = COLORS[0]) -> SafeString:
    """Horizontal bars with their label on the left and the value on the right (funnels, breakdowns)."""
    row = 26
    height = PAD_TOP + row * max(len(points), 1) + 8
    label_width = 250
    maximum = max([float(p.value or 0) for p in points] + [0.0]) or 1.0
    usable = WIDTH - label_width - 70
    parts = []
    for index, point in enumerate(points):
        y = PAD_TOP + index * row
        length = usable * float(point.value or 0) / maximum
        shape = (
            f'<rect x="0" y="{y}" width="{WIDTH}" height="{row - 4}" fill="transparent"/>'
            f'<text x="{label_width - 8}" y="{y + 16}" class="tick" text-anchor="end">{escape(point.label)}</text>'
            f'<rect x="{label_width}" y="{y + 2}" width="{max(length, 1.0):.1f}" height="{row - 8}" fill="{color}"/>'
            f'<text x="{label_width + length + 6:.1f}" y="{y + 16}" class="value">{escape(point.text)}</text>'
        )
        parts.append(_mark(point, "value", shape))
    return _svg(chart_id, title, parts, height=height)
