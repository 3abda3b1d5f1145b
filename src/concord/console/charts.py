"""Charts as inline SVG rendered on the server: no chart library, nothing fetched by the browser."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape

from markupsafe import Markup

PALETTE = ("#2563eb", "#dc2626", "#16a34a", "#d97706", "#7c3aed", "#0891b2", "#db2777", "#4b5563")
W, H, PAD_L, PAD_B, PAD_T = 560, 180, 44, 22, 10


@dataclass
class Series:
    label: str
    points: dict[int, float]  # minute bucket (epoch s) → value


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    for step in (1, 2, 5):
        for exp in range(-3, 12):
            candidate = step * 10.0 ** exp
            if candidate >= value:
                return candidate
    return value


def _fmt(value: float) -> str:
    if value >= 1000:
        return f"{value / 1000:.1f}k"
    return f"{value:.3g}"


@dataclass(frozen=True)
class _Plot:
    """Where bucket `i` and value `v` land in the SVG: `top` is the value at the top of the chart, `span` the
    number of bucket steps across it (at least 1, so a single bucket does not divide by zero)."""

    top: float
    span: int

    def x(self, i: int) -> float:
        return PAD_L + (W - PAD_L - 8) * i / self.span

    def y(self, v: float) -> float:
        return PAD_T + (H - PAD_T - PAD_B) * (1 - v / self.top)


def _axes(plot: _Plot, title: str, unit: str, start: int, end: int, last: int) -> list[str]:
    """The SVG opening, the zero axis, the top gridline with its value, and the first and last bucket's time."""
    x, y, top = plot.x, plot.y, plot.top
    parts = [f'<svg class="chart" viewBox="0 0 {W} {H}" role="img" aria-label="{escape(title)}">',
             f'<line x1="{PAD_L}" y1="{y(0):.1f}" x2="{W - 8}" y2="{y(0):.1f}" class="axis"/>',
             f'<line x1="{PAD_L}" y1="{y(top):.1f}" x2="{W - 8}" y2="{y(top):.1f}" class="grid"/>',
             f'<text x="{PAD_L - 4}" y="{y(top) + 4:.1f}" class="tick" text-anchor="end">{_fmt(top)}{unit}</text>',
             f'<text x="{PAD_L - 4}" y="{y(0) + 4:.1f}" class="tick" text-anchor="end">0</text>']
    for label, at in ((0, start), (last, end)):
        stamp = datetime.fromtimestamp(at, UTC).strftime("%H:%M")
        anchor = "start" if label == 0 else "end"
        parts.append(f'<text x="{x(label):.1f}" y="{H - 6}" class="tick" text-anchor="{anchor}">{stamp}</text>')
    return parts


def _series_line(plot: _Plot, s: Series, color: str, buckets: list[int], sampled: bool) -> list[str]:
    x, y = plot.x, plot.y
    shown = [(i, b) for i, b in enumerate(buckets) if not sampled or b in s.points]
    coords = " ".join(f"{x(i):.1f},{y(s.points.get(b, 0.0)):.1f}" for i, b in shown)
    parts = [f'<polyline fill="none" stroke="{color}" stroke-width="1.6" points="{coords}">'
             f"<title>{escape(s.label)}</title></polyline>"]
    if sampled and len(shown) == 1:  # a single sample draws no line: mark it
        parts.append(f'<circle cx="{x(shown[0][0]):.1f}" cy="{y(s.points[shown[0][1]]):.1f}" r="2.5" '
                     f'fill="{color}"/>')
    return parts


def _legend_figure(s: Series, unit: str, summed: bool, sampled: bool) -> str:
    """Counts show their total, gauges their highest value, samples the latest."""
    values = s.points.values()
    if sampled:
        return f"now {_fmt(s.points[max(s.points)])}{unit}" if s.points else "no sample"
    return f"{_fmt(sum(values))}" if summed else f"max {_fmt(max(values, default=0.0))}{unit}"


def line_chart(title: str, series: list[Series], start: int, end: int, unit: str = "", step: int = 60,
               summed: bool = True, sampled: bool = False) -> Markup:
    """One line per series over buckets [start, end] of `step` seconds; a missing bucket counts as zero —
    unless `sampled` (gauges read from samples): then the line joins the samples taken, and a bucket without
    one is a gap, not a zero."""
    buckets = list(range(start, end + 1, step))
    top = _nice_max(max((v for s in series for v in s.points.values()), default=0.0))
    plot = _Plot(top, max(len(buckets) - 1, 1))
    parts = _axes(plot, title, unit, start, end, len(buckets) - 1)
    for n, s in enumerate(series):
        parts.extend(_series_line(plot, s, PALETTE[n % len(PALETTE)], buckets, sampled))
    parts.append("</svg>")
    legend = "".join(f'<span class="key"><i style="background:{PALETTE[n % len(PALETTE)]}"></i>{escape(s.label)}'
                     f" ({_legend_figure(s, unit, summed, sampled)})</span>" for n, s in enumerate(series))
    return Markup(f'<figure><figcaption>{escape(title)}</figcaption>{"".join(parts)}'
                  f'<div class="legend">{legend or "<span class=muted>no data in this window</span>"}</div></figure>')


def bar_chart(title: str, values: list[tuple[str, float, float | None]], unit: str = "") -> Markup:
    """Horizontal bars: (label, value, capacity or None)."""
    rows = []
    top = _nice_max(max((cap or v for _, v, cap in values), default=0.0))
    for label, value, cap in values:
        width = 100 * value / (cap or top) if (cap or top) else 0
        extra = f" of {_fmt(cap)}" if cap else ""
        rows.append(f'<div class="bar"><span class="bar-label">{escape(label)}</span><span class="bar-track">'
                    f'<span class="bar-fill" style="width:{min(width, 100):.1f}%"></span></span>'
                    f'<span class="bar-value">{_fmt(value)}{unit}{extra}</span></div>')
    body = "".join(rows) or '<span class="muted">nothing to show</span>'
    return Markup(f'<figure><figcaption>{escape(title)}</figcaption>{body}</figure>')
