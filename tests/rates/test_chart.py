from datetime import UTC, datetime, timedelta
from decimal import ROUND_DOWN, Decimal, localcontext

from rates.chart import RANGES, step_chart

NOW = datetime(2025, 6, 1, tzinfo=UTC)
DAY = timedelta(days=1)


def days_ago(*pairs):
    return [(NOW - n * DAY, Decimal(rate)) for n, rate in pairs]


def chart_of(steps, **kwargs):
    # plot from x=100 to x=388 (width 400 - pad 12): 288 units for the range
    return step_chart(steps, now=NOW, width=400, height=122, left=100, pad=12, axis=22, **kwargs)


def test_it_places_each_change_at_its_time():
    chart = chart_of(days_ago((20, "1"), (10, "0.995"), (5, "1.01")), length=30 * DAY)
    xs = [m.x for m in chart.markers]
    assert xs == ["196.0", "292.0", "340.0"]  # 10/30, 20/30 and 25/30 of 288 after 100
    assert chart.points[-1][0] == "388.0"  # the last rate holds until now, the right edge
    # Each step is flat and the next one starts where it ends.
    assert chart.points[0][1] == chart.points[1][1]
    assert chart.points[1][0] == chart.points[2][0]


def test_it_draws_the_rate_in_force_at_the_start_from_the_left_edge():
    chart = chart_of(days_ago((400, "1"), (40, "0.9"), (10, "2")), length=30 * DAY)
    assert [m.label[-3:] for m in chart.markers] == ["0.9", ": 2"]  # the oldest is out of range
    assert chart.points[0][0] == "100.0"
    assert chart.markers[1].x == "292.0"


def test_all_starts_at_the_first_change():
    chart = chart_of(days_ago((30, "1"), (15, "2")), length=RANGES["all"][1])
    assert [m.x for m in chart.markers] == ["100.0", "244.0"]


def test_it_puts_higher_rates_higher_up():
    chart = chart_of(days_ago((3, "1"), (2, "0.5"), (1, "2")), length=7 * DAY)
    ys = [Decimal(m.y) for m in chart.markers]
    assert ys == [Decimal("62.7"), Decimal("88.0"), Decimal("12.0")]  # 12 + 76 * (2 - r) / 1.5
    assert (chart.top_label, chart.bottom_label) == ("2", "0.5")


def test_it_rounds_the_same_whatever_decimal_context_beem_left_behind():
    with localcontext() as context:
        context.rounding = ROUND_DOWN  # what beembase's value_to_decimal sets, thread-wide
        chart = chart_of(days_ago((3, "1"), (2, "0.5"), (1, "2")), length=7 * DAY)
    assert chart.markers[0].y == "62.7"  # 62.666..., rounded to nearest


def test_it_draws_a_flat_history_in_the_middle():
    chart = chart_of(days_ago((3, "1")), length=7 * DAY)
    assert [y for _, y in chart.points] == ["50.0", "50.0"]


def test_it_marks_scheduled_steps_and_extends_the_axis_to_show_them():
    steps = [(NOW - DAY, Decimal(1)), (NOW + 2 * DAY, Decimal(2))]
    chart = chart_of(steps, length=7 * DAY)
    assert [m.scheduled for m in chart.markers] == [False, True]
    assert chart.markers[1].label == "2025-06-03 00:00 UTC: 2 (scheduled)"
    assert Decimal(chart.markers[1].x) < Decimal("388.0")  # room after it to see it hold


def test_it_labels_the_time_axis():
    chart = chart_of(days_ago((20, "1")), length=30 * DAY)
    assert [t.x for t in chart.ticks] == ["100.0", "172.0", "244.0", "316.0", "388.0"]
    assert [t.label for t in chart.ticks] == ["May 02", "May 09", "May 17", "May 24", "Jun 01"]
    hours = chart_of(days_ago((20, "1")), length=RANGES["7d"][1])
    assert hours.ticks[0].label == "May 25"
    short = step_chart([(NOW - timedelta(hours=3), Decimal(1))], now=NOW, length=None)
    assert [t.label for t in short.ticks][:2] == ["21:00", "21:45"]


def test_each_step_has_a_hit_region_with_its_value():
    chart = chart_of(days_ago((20, "1"), (10, "0.995")), length=30 * DAY)
    assert [(s.x, s.width) for s in chart.steps] == [("196.0", "96.0"), ("292.0", "96.0")]
    assert chart.steps[1].label == "2025-05-22 00:00 UTC: 0.995"


def test_it_draws_nothing_without_steps():
    chart = step_chart([], now=NOW)
    assert chart.points == ()
    assert chart.polyline == ""
