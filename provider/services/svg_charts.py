"""Small server-side SVG charts for the console: no script, no framework, readable without colour.

Every function returns a complete <svg> element as a string; every text that
comes from data is escaped. Each chart has a <title> and <desc> for screen
readers, and the console prints the same numbers in a table beside it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from html import escape

WIDTH, HEIGHT = 600, 220
LEFT, RIGHT, TOP, BOTTOM = 44, 12, 16, 34
PALETTE = ("#1d4ed8", "#b45309", "#047857", "#7c3aed")


def _frame(title: str, description: str, body: str) -> str:
    return (
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" xmlns="http://www.w3.org/2000/svg">'
        f"<title>{escape(title)}</title><desc>{escape(description)}</desc>{body}</svg>"
    )


def _axes(max_value: float) -> str:
    plot_h = HEIGHT - TOP - BOTTOM
    parts = [f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{HEIGHT - BOTTOM}" stroke="#6b7280"/>',
             f'<line x1="{LEFT}" y1="{HEIGHT - BOTTOM}" x2="{WIDTH - RIGHT}" y2="{HEIGHT - BOTTOM}" stroke="#6b7280"/>']
    for fraction in (0, 0.5, 1):
        y = TOP + plot_h * (1 - fraction)
        value = max_value * fraction
        label = f"{value:.0f}" if max_value >= 10 or value == int(value) else f"{value:.1f}"
        parts.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11" fill="#374151">{label}</text>')
    return "".join(parts)


def line_chart(title: str, times: Sequence[datetime], series: dict[str, Sequence[float]]) -> str:
    """Lines over time (one per series), with a legend; empty data says so in the picture."""
    if not times:
        return _frame(title, "No samples yet.", f'<text x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle" '
                      'font-size="14" fill="#374151">No samples yet</text>')
    top = max([1.0, *(max(values) for values in series.values() if values)])
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    start, end = times[0].timestamp(), times[-1].timestamp()
    span = max(end - start, 1.0)

    def xy(t: datetime, v: float) -> str:
        return f"{LEFT + plot_w * (t.timestamp() - start) / span:.1f},{TOP + plot_h * (1 - v / top):.1f}"

    body = [_axes(top)]
    for index, (name, values) in enumerate(series.items()):
        colour = PALETTE[index % len(PALETTE)]
        points = " ".join(xy(t, v) for t, v in zip(times, values, strict=True))
        dash = "" if index == 0 else ' stroke-dasharray="6 3"'
        body.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2"{dash} points="{points}"/>')
        body.append(f'<text x="{LEFT + 8 + index * 150}" y="{HEIGHT - 8}" font-size="12" fill="{colour}">'
                    f'{"—" if index == 0 else "- -"} {escape(name)}</text>')
    body.append(f'<text x="{WIDTH - RIGHT}" y="{HEIGHT - 8}" text-anchor="end" font-size="11" fill="#374151">'
                f'{escape(times[0].strftime("%H:%M"))}–{escape(times[-1].strftime("%H:%M"))} UTC</text>')
    latest = ", ".join(f"{name} {values[-1]:g}" for name, values in series.items() if values)
    return _frame(title, f"From {times[0]:%H:%M} to {times[-1]:%H:%M} UTC; latest: {latest}.", "".join(body))


def bar_chart(title: str, bars: Sequence[tuple[str, float]], unit: str = "") -> str:
    """Vertical bars with their value on top and their label below."""
    top = max([1.0, *(value for _, value in bars)])
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(len(bars), 1)
    body = [_axes(top)]
    for index, (label, value) in enumerate(bars):
        h = plot_h * value / top
        x = LEFT + index * slot + slot * 0.15
        body.append(f'<rect x="{x:.1f}" y="{TOP + plot_h - h:.1f}" width="{slot * 0.7:.1f}" height="{h:.1f}" fill="{PALETTE[0]}"/>')
        body.append(f'<text x="{x + slot * 0.35:.1f}" y="{TOP + plot_h - h - 3:.1f}" text-anchor="middle" font-size="11" fill="#1f2937">{value:g}</text>')
        body.append(f'<text x="{x + slot * 0.35:.1f}" y="{HEIGHT - BOTTOM + 14}" text-anchor="middle" font-size="10" fill="#374151">{escape(label)}</text>')
    description = "; ".join(f"{label}: {value:g}{unit}" for label, value in bars) or "No data."
    return _frame(title, description, "".join(body))
