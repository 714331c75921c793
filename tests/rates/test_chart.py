from datetime import UTC, datetime, timedelta
from decimal import Decimal

from rates.chart import step_chart

NOW = datetime(2025, 6, 1, tzinfo=UTC)


def steps(*rates: str):
    return [(NOW - timedelta(days=len(rates) - i), Decimal(r)) for i, r in enumerate(rates)]


def test_it_draws_two_points_per_step_spanning_the_plot():
    chart = step_chart(steps("1", "0.995", "1.01"), now=NOW, width=400, height=100, left=100)
    assert len(chart.points) == 6
    assert len(chart.markers) == 3
    assert chart.points[0][0] == "100.0"
    assert chart.points[-1][0] == "388.0"  # width - pad
    # Each step is flat and the next one starts where it ends.
    assert chart.points[0][1] == chart.points[1][1]
    assert chart.points[1][0] == chart.points[2][0]


def test_it_puts_higher_rates_higher_up():
    chart = step_chart(steps("1", "0.5", "2"), now=NOW, height=100, pad=10)
    ys = [Decimal(m.y) for m in chart.markers]
    assert ys == [Decimal("63.3"), Decimal("90.0"), Decimal("10.0")]
    assert (chart.top_label, chart.bottom_label) == ("2", "0.5")


def test_it_draws_a_flat_history_in_the_middle():
    chart = step_chart(steps("1"), now=NOW, height=100)
    assert [y for _, y in chart.points] == ["50.0", "50.0"]


def test_it_marks_scheduled_steps():
    future = [(NOW - timedelta(days=1), Decimal(1)), (NOW + timedelta(days=1), Decimal(2))]
    chart = step_chart(future, now=NOW)
    assert [m.scheduled for m in chart.markers] == [False, True]
    assert chart.markers[1].label == "2025-06-02 00:00 UTC: 2"


def test_it_writes_the_points_for_svg():
    chart = step_chart(steps("1", "2"), now=NOW, width=200, height=100, left=0, pad=10)
    assert chart.polyline == "0.0,90.0 95.0,90.0 95.0,10.0 190.0,10.0"


def test_it_draws_nothing_without_steps():
    chart = step_chart([], now=NOW)
    assert chart.points == ()
    assert chart.polyline == ""
