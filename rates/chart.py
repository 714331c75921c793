"""A rate history as a server-rendered SVG step chart on a time axis: pure functions, no float.

The chart covers a range of time (RANGES; the last 30 days by default) up to now, or a little
past the last scheduled change. The rate in force when the range starts is drawn from the left
edge; each later change starts where it takes effect, and the line holds each rate flat until
the next (a step chart). Each step also gets a hit region carrying its label, which the page's
static script (sonportal/static/sonportal/chart.js) shows on hover or focus: the values are in
the markup, so the chart reads the same without JavaScript (each step's <title>).
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal

_PLACES = Decimal("0.1")
RANGES: dict[str, tuple[str, timedelta | None]] = {
    "7d": ("7 days", timedelta(days=7)),
    "30d": ("30 days", timedelta(days=30)),
    "1y": ("1 year", timedelta(days=365)),
    "all": ("All", None),
}
DEFAULT_RANGE = "30d"
TICKS = 4  # intervals on the time axis: five labels


@dataclass(frozen=True)
class Marker:
    x: str
    y: str
    label: str
    scheduled: bool


@dataclass(frozen=True)
class Step:
    """A hit region: the stretch of the time axis a rate held, and what hovering it says."""

    x: str
    width: str
    y: str
    label: str


@dataclass(frozen=True)
class Tick:
    x: str
    label: str


@dataclass(frozen=True)
class StepChart:
    width: int
    height: int
    points: tuple[tuple[str, str], ...]
    markers: tuple[Marker, ...]
    top_label: str
    bottom_label: str
    left: int
    steps: tuple[Step, ...] = ()
    ticks: tuple[Tick, ...] = ()
    axis_y: int = 0

    @property
    def polyline(self) -> str:
        return " ".join(f"{x},{y}" for x, y in self.points)


@dataclass(frozen=True)
class _Frame:
    start: datetime
    end: datetime
    left: int
    plot_width: Decimal

    def x(self, when: datetime) -> Decimal:
        span = Decimal(int((self.end - self.start).total_seconds()))
        offset = Decimal(int((when - self.start).total_seconds()))
        return self.left + self.plot_width * offset / span


def step_chart(
    steps: Sequence[tuple[datetime, Decimal]],
    *,
    now: datetime,
    length: timedelta | None = timedelta(days=30),
    width: int = 640,
    height: int = 180,
    left: int = 90,
    pad: int = 12,
    axis: int = 22,
) -> StepChart:
    """Chart the rates `steps` (valid_from, rate), oldest first, over the `length` before now
    (None: since the first step); steps after `now` are scheduled and widen the range."""
    visible = _visible(steps, now, length)
    if not visible:
        return StepChart(width, height, (), (), "", "", left)
    frame = _frame(visible, steps, now, length, left, width - left - pad)
    rates = [rate for _, rate in visible]
    low, high = min(rates), max(rates)
    plot_height = height - axis
    points: list[tuple[str, str]] = []
    markers: list[Marker] = []
    hits: list[Step] = []
    for i, (valid_from, rate) in enumerate(visible):
        until = visible[i + 1][0] if i + 1 < len(visible) else frame.end
        x0, x1 = frame.x(max(valid_from, frame.start)), frame.x(until)
        y = _coord(_y(rate, low, high, plot_height, pad))
        points += [(_coord(x0), y), (_coord(x1), y)]
        label = f"{valid_from:%Y-%m-%d %H:%M} UTC: {rate}" + (
            " (scheduled)" if valid_from > now else ""
        )
        markers.append(Marker(_coord(x0), y, label, scheduled=valid_from > now))
        hits.append(Step(_coord(x0), _coord(max(x1 - x0, Decimal(1))), y, label))
    return StepChart(
        width, height, tuple(points), tuple(markers), str(high), str(low), left,
        tuple(hits), _ticks(frame), plot_height,
    )  # fmt: skip


def _visible(
    steps: Sequence[tuple[datetime, Decimal]], now: datetime, length: timedelta | None
) -> list[tuple[datetime, Decimal]]:
    """The step in force at the range's start, and every later one."""
    if length is None or not steps:
        return list(steps)
    start = now - length
    earlier = [s for s in steps if s[0] <= start]
    return earlier[-1:] + [s for s in steps if s[0] > start]


def _frame(visible, steps, now, length, left: int, plot_width: int) -> _Frame:
    start = now - length if length is not None else steps[0][0]
    end = max(now, visible[-1][0])
    if visible[-1][0] > now:  # room after the last scheduled change to see it hold
        end += (end - start) / 20
    end = max(end, start + timedelta(minutes=1))
    return _Frame(start, end, left, Decimal(plot_width))


def _ticks(frame: _Frame) -> tuple[Tick, ...]:
    span = frame.end - frame.start
    fmt = (
        "%H:%M"
        if span <= timedelta(days=2)
        else "%b %d"
        if span <= timedelta(days=400)
        else "%Y-%m"
    )
    return tuple(
        Tick(_coord(frame.x(when)), when.strftime(fmt))
        for when in (frame.start + span * i / TICKS for i in range(TICKS + 1))
    )


def _y(rate: Decimal, low: Decimal, high: Decimal, height: int, pad: int) -> Decimal:
    """Higher rates higher up; a flat history sits in the middle."""
    if high == low:
        return Decimal(height) / 2
    return pad + (high - rate) / (high - low) * (height - 2 * pad)


def _coord(value: Decimal) -> str:
    # Rounding named: beem sets the thread's decimal context to ROUND_DOWN when it builds an
    # Amount, and a chart must not depend on what ran before it.
    return str(Decimal(value).quantize(_PLACES, rounding=ROUND_HALF_EVEN))
