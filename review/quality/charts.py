"""Small server-rendered SVG charts for the quality dashboard. Pure: no Django, no script.

Every label is escaped (usernames are user input); values are numbers in [0, 1] or None (left out, shown as
"n/a"). The SVG carries a <title> per mark, so hovering shows the exact figure, and `role="img"` with an
aria-label for screen readers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

PALETTE = ("#2563eb", "#16a34a", "#d97706", "#9333ea")


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[float | None]
    low: Sequence[float | None] | None = None  # interval, same length as values
    high: Sequence[float | None] | None = None


def _fmt(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.3f}"


def _y(v: float, lo: float, hi: float, top: float, height: float) -> float:
    return top + height * (1 - (v - lo) / (hi - lo))


def _axis(left: float, top: float, width: float, height: float, lo: float, hi: float) -> list[str]:
    out = []
    for i in range(5):
        v = lo + (hi - lo) * i / 4
        y = _y(v, lo, hi, top, height)
        out.append(f'<line x1="{left}" x2="{left + width}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e5e7eb"/>')
        out.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11" fill="#6b7280">{v:.2f}</text>')
    return out


def _legend(series: Sequence[Series], left: float, y: float, width: float) -> tuple[list[str], float]:
    """Legend items in rows that fit `width`; returns the marks and the height they took."""
    out, x, row = [], left, 0
    for i, s in enumerate(series):
        item = 26 + 7.4 * len(s.name)
        if x > left and x + item > width:
            x, row = left, row + 1
        color = PALETTE[i % len(PALETTE)]
        out.append(f'<rect x="{x:.1f}" y="{y + 16 * row - 9}" width="10" height="10" fill="{color}"/>')
        out.append(f'<text x="{x + 14:.1f}" y="{y + 16 * row}" font-size="12" fill="#111827">{escape(s.name)}</text>')
        x += item
    return out, 16 * row


def bar_chart(categories: Sequence[str], series: Sequence[Series], *, title: str, lo: float = 0.0,
              hi: float = 1.0, width: int = 640, height: int = 260) -> str:
    """Grouped bars: one group per category, one bar per series; None values are drawn as a gap."""
    left, bottom = 48, 46
    legend, extra = _legend(series, left, 16, width)
    top = 28 + extra
    plot_w, plot_h = width - left - 12, height - top - bottom
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" '
             f'height="{height}" role="img" aria-label="{escape(title)}" class="chart">',
             *_axis(left, top, plot_w, plot_h, lo, hi), *legend]
    n = max(len(categories), 1)
    group = plot_w / n
    bar = min(28.0, group * 0.8 / max(len(series), 1))
    for c, name in enumerate(categories):
        x0 = left + c * group + (group - bar * len(series)) / 2
        for i, s in enumerate(series):
            v = s.values[c] if c < len(s.values) else None
            if v is None:
                continue
            v = min(max(v, lo), hi)
            y = _y(v, lo, hi, top, plot_h)
            base = _y(max(lo, 0.0) if lo < 0 < hi else lo, lo, hi, top, plot_h)
            parts.append(f'<rect x="{x0 + i * bar:.1f}" y="{min(y, base):.1f}" width="{bar - 2:.1f}" '
                         f'height="{abs(base - y):.1f}" fill="{PALETTE[i % len(PALETTE)]}">'
                         f'<title>{escape(name)} · {escape(s.name)}: {_fmt(s.values[c])}</title></rect>')
        label = escape(name if len(name) <= 14 else name[:13] + "…")
        parts.append(f'<text x="{left + c * group + group / 2:.1f}" y="{top + plot_h + 16}" text-anchor="middle" '
                     f'font-size="11" fill="#374151">{label}</text>')
    parts.append("</svg>")
    return "".join(parts)


def line_chart(xs: Sequence[str], series: Sequence[Series], *, title: str, lo: float = 0.0, hi: float = 1.0,
               width: int = 640, height: int = 260) -> str:
    """Lines with points, and a band for each series' interval where one is given."""
    left, bottom = 48, 46
    legend, extra = _legend(series, left, 16, width)
    top = 28 + extra
    plot_w, plot_h = width - left - 12, height - top - bottom
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" '
             f'height="{height}" role="img" aria-label="{escape(title)}" class="chart">',
             *_axis(left, top, plot_w, plot_h, lo, hi), *legend]
    n = len(xs)

    def x_at(i: int) -> float:
        return left + (plot_w * (i + 0.5) / n if n else 0)

    def clamp(v: float) -> float:
        return min(max(v, lo), hi)

    for i, s in enumerate(series):
        color = PALETTE[i % len(PALETTE)]
        if s.low is not None and s.high is not None:
            for j in range(n):
                if s.low[j] is not None and s.high[j] is not None:
                    y1, y2 = _y(clamp(s.high[j]), lo, hi, top, plot_h), _y(clamp(s.low[j]), lo, hi, top, plot_h)
                    parts.append(f'<line x1="{x_at(j):.1f}" x2="{x_at(j):.1f}" y1="{y1:.1f}" y2="{y2:.1f}" '
                                 f'stroke="{color}" stroke-opacity="0.35" stroke-width="6"/>')
        points = [(x_at(j), _y(clamp(v), lo, hi, top, plot_h), v) for j, v in enumerate(s.values) if v is not None]
        if len(points) > 1:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y, _ in points)
            parts.append(f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="2"/>')
        for (x, y, v), j in zip(points, [j for j, v in enumerate(s.values) if v is not None], strict=True):
            parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="{color}">'
                         f'<title>{escape(xs[j])} · {escape(s.name)}: {_fmt(v)}</title></circle>')
    step = max(1, n // 10)
    for j in range(0, n, step):
        parts.append(f'<text x="{x_at(j):.1f}" y="{top + plot_h + 16}" text-anchor="middle" font-size="11" '
                     f'fill="#374151">{escape(xs[j])}</text>')
    parts.append("</svg>")
    return "".join(parts)
