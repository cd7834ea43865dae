"""Axis helpers for the back office's server-rendered SVG charts (execution/spc_chart.py)."""

import math


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """About `count` round tick values (1, 2 or 5 × 10ⁿ apart) within low..high."""
    span = high - low
    raw_step = span / max(count, 1)
    magnitude = 10 ** math.floor(math.log10(raw_step))
    step = min((m * magnitude for m in (1, 2, 5, 10)), key=lambda step: abs(span / step - count))
    first = math.ceil(low / step) * step
    ticks = []
    tick = first
    while tick <= high + step * 1e-9:
        ticks.append(round(tick, 10))
        tick += step
    return ticks


def format_number(value: float) -> str:
    """A figure as the charts label it: up to six significant digits."""
    return f"{value:.6g}"
