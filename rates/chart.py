"""A rate history as a server-rendered SVG step chart: pure functions, no JS, no float.

Each change gets an equal slice of the width (the seed of 2000 would squash a time axis), and
the line holds each rate flat across its slice and jumps at the next change: a step chart.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

_PLACES = Decimal("0.1")


@dataclass(frozen=True)
class Marker:
    x: str
    y: str
    label: str
    scheduled: bool


@dataclass(frozen=True)
class StepChart:
    width: int
    height: int
    points: tuple[tuple[str, str], ...]
    markers: tuple[Marker, ...]
    top_label: str
    bottom_label: str
    left: int

    @property
    def polyline(self) -> str:
        return " ".join(f"{x},{y}" for x, y in self.points)


def step_chart(
    steps: Sequence[tuple[datetime, Decimal]],
    *,
    now: datetime,
    width: int = 640,
    height: int = 160,
    left: int = 90,
    pad: int = 12,
) -> StepChart:
    """Chart the rates `steps` (valid_from, rate), oldest first; steps after `now` are scheduled.

    Two points per step (its start and end at its height), so len(points) == 2 * len(steps).
    """
    if not steps:
        return StepChart(width, height, (), (), "", "", left)
    rates = [rate for _, rate in steps]
    low, high = min(rates), max(rates)
    slice_width = Decimal(width - left - pad) / len(steps)
    points: list[tuple[str, str]] = []
    markers: list[Marker] = []
    for i, (valid_from, rate) in enumerate(steps):
        x0, x1 = _coord(left + slice_width * i), _coord(left + slice_width * (i + 1))
        y = _coord(_y(rate, low, high, height, pad))
        points += [(x0, y), (x1, y)]
        label = f"{valid_from:%Y-%m-%d %H:%M} UTC: {rate}"
        markers.append(Marker(x0, y, label, scheduled=valid_from > now))
    return StepChart(width, height, tuple(points), tuple(markers), str(high), str(low), left)


def _y(rate: Decimal, low: Decimal, high: Decimal, height: int, pad: int) -> Decimal:
    """Higher rates higher up; a flat history sits in the middle."""
    if high == low:
        return Decimal(height) / 2
    return pad + (high - rate) / (high - low) * (height - 2 * pad)


def _coord(value: Decimal) -> str:
    return str(value.quantize(_PLACES))
