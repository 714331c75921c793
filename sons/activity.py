"""What each SON did, over the last 24 hours, 7 days, 30 days and since it was registered,
computed from what the portal recorded: uptime from the status history (SONStatusChange),
heartbeats and their delay from the hourly sums (SONHeartbeatHour), and, through providers
that the pipelines register (sons sits below them), signatures given and refusals with their
reasons. docs/sons.md, "Activity".

The queries are per page, not per SON: a status grid of any length costs the same few.
"""

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import connection
from django.db.models import Count, Max, Q, Sum

from sons.models import SON, SONHeartbeatHour, SONStatusChange

WINDOWS: tuple[tuple[str, timedelta | None], ...] = (
    ("24 h", timedelta(hours=24)),
    ("7 d", timedelta(days=7)),
    ("30 d", timedelta(days=30)),
    ("all", None),
)
HEADINGS = ("24 h", "7 d", "30 d", "since registered")
UP = {SON.Status.ACTIVE, SON.Status.REQUEST_MAINTENANCE}
DOWN = {SON.Status.IN_MAINTENANCE}


@dataclass(frozen=True)
class ActivityRow:
    key: str
    label: str
    values: tuple  # one per window of WINDOWS; None: nothing to say
    unit: str = "count"  # or "duration" (seconds shown as "3 min 5 s")

    def cells(self) -> list[tuple[str, object]]:
        """(heading, value) per window, for the template."""
        return list(zip(HEADINGS, self.values, strict=True))


@dataclass
class Activity:
    uptime: tuple[float | None, ...]  # the 24 h, 7 d and 30 d windows
    rows: list[ActivityRow] = field(default_factory=list)
    reasons: list[tuple[str, int]] = field(default_factory=list)  # refusals of the last 30 d

    def uptime_cells(self) -> list[tuple[str, float | None]]:
        return list(zip(HEADINGS, (*self.uptime, None), strict=True))

    def row(self, key: str) -> ActivityRow | None:
        return next((r for r in self.rows if r.key == key), None)


# A provider answers, for SON ids at `now`, each SON's rows and refusal reasons.
Provider = Callable[[Sequence[int], datetime], dict[int, tuple[list[ActivityRow], list]]]
_PROVIDERS: list[Provider] = []


def register_provider(provider: Provider) -> None:
    if provider not in _PROVIDERS:
        _PROVIDERS.append(provider)


def window_filters(field_name: str, now: datetime) -> list[Q]:
    """For a conditional Count/Sum per window of WINDOWS: Q(field >= now - 24 h), ..., Q()."""
    return [Q(**{f"{field_name}__gte": now - length}) if length else Q() for _, length in WINDOWS]


def son_activity(sons: Iterable[SON], now: datetime) -> dict[int, Activity]:
    sons = list(sons)
    ids = [son.pk for son in sons]
    changes = _changes_since(ids, now - timedelta(days=30))
    heartbeats = _heartbeat_rows(ids, now)
    extra: dict[int, tuple[list[ActivityRow], list]] = defaultdict(lambda: ([], []))
    for provider in _PROVIDERS:
        for son_id, (rows, reasons) in provider(ids, now).items():
            extra[son_id][0].extend(rows)
            extra[son_id][1].extend(reasons)
    result = {}
    for son in sons:
        uptime = tuple(
            _uptime(son, changes.get(son.pk, []), now - length, now)
            for _, length in WINDOWS
            if length is not None
        )
        rows, reasons = extra[son.pk]
        result[son.pk] = Activity(uptime, heartbeats.get(son.pk, []) + rows, reasons)
    return result


def _changes_since(ids: list[int], start: datetime) -> dict[int, list[SONStatusChange]]:
    """Each SON's status changes since start, newest first."""
    by_son: dict[int, list[SONStatusChange]] = defaultdict(list)
    rows = SONStatusChange.objects.filter(son_id__in=ids, created_at__gte=start).order_by(
        "-created_at", "-id"
    )
    for change in rows.only("son_id", "old_status", "new_status", "created_at"):
        by_son[change.son_id].append(change)
    return by_son


def _uptime(
    son: SON, changes: list[SONStatusChange], start: datetime, now: datetime
) -> float | None:
    """The share of the time from start to now the SON was up (active or announcing
    maintenance) out of the time it was in the federation (up or in maintenance); None when it
    was never in the federation then. Walks the history back from the status now."""
    up = down = 0.0
    status, end = son.status, now
    begin = max(start, son.created_at)
    for change in changes:  # newest first
        if change.created_at < begin:
            break
        seconds = (end - change.created_at).total_seconds()
        up, down = _add(status, seconds, up, down)
        status, end = change.old_status, change.created_at
    up, down = _add(status, max((end - begin).total_seconds(), 0), up, down)
    return up / (up + down) if up + down > 0 else None


def _add(status: str, seconds: float, up: float, down: float) -> tuple[float, float]:
    if status in UP:
        return up + seconds, down
    if status in DOWN:
        return up, down + seconds
    return up, down


def _heartbeat_rows(ids: list[int], now: datetime) -> dict[int, list[ActivityRow]]:
    """Hourly sums: a window takes in the hour its start falls in."""
    aggregates = {}
    for i, condition in enumerate(window_filters("hour", now - timedelta(hours=1))):
        aggregates[f"n_{i}"] = Sum("heartbeats", filter=condition)
        aggregates[f"delay_{i}"] = Sum("delay_ms_total", filter=condition)
        aggregates[f"max_{i}"] = Max("delay_ms_max", filter=condition)
        aggregates[f"gap_{i}"] = Max("gap_max_s", filter=condition)
    sums = SONHeartbeatHour.objects.filter(son_id__in=ids).values("son_id").annotate(**aggregates)
    out = {}
    for row in sums:
        counts = tuple(row[f"n_{i}"] or 0 for i in range(len(WINDOWS)))
        average = tuple(
            round(row[f"delay_{i}"] / n / 1000, 1) if n else None for i, n in enumerate(counts)
        )
        longest = tuple(_ms_to_s(row[f"max_{i}"]) for i in range(len(WINDOWS)))
        gaps = tuple(row[f"gap_{i}"] for i in range(len(WINDOWS)))
        out[row["son_id"]] = [
            ActivityRow("heartbeats", "Heartbeats received", counts),
            ActivityRow("delay", "Heartbeat delay, average (s)", average),
            ActivityRow("delay_max", "Heartbeat delay, longest (s)", longest),
            ActivityRow("gap", "Longest silence between heartbeats", gaps, "duration"),
        ]
    return out


def _ms_to_s(ms: int | None) -> float | None:
    return None if ms is None else round(ms / 1000, 1)


def heartbeat_hour_record(
    *, son_id: int, signed_at: datetime, received_at: datetime, previous: datetime | None
) -> None:
    """Add one accepted heartbeat to its hour's sums: one statement, safe when two heartbeats
    of a SON arrive at once."""
    delay_ms = int((received_at - signed_at).total_seconds() * 1000)
    gap = int((received_at - previous).total_seconds()) if previous else 0
    hour = received_at.replace(minute=0, second=0, microsecond=0)
    table = SONHeartbeatHour._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""INSERT INTO {table} AS t
                (son_id, hour, heartbeats, delay_ms_total, delay_ms_max, gap_max_s)
                VALUES (%s, %s, 1, %s, %s, %s)
                ON CONFLICT (son_id, hour) DO UPDATE SET
                  heartbeats = t.heartbeats + 1,
                  delay_ms_total = t.delay_ms_total + EXCLUDED.delay_ms_total,
                  delay_ms_max = GREATEST(t.delay_ms_max, EXCLUDED.delay_ms_max),
                  gap_max_s = GREATEST(t.gap_max_s, EXCLUDED.gap_max_s)""",
            [son_id, hour, delay_ms, delay_ms, gap],
        )


def count_rows(
    queryset, son_field: str, time_field: str, now: datetime, counted: str = "id"
) -> dict[int, tuple[int, ...]]:
    """{son id: (n per window of WINDOWS)} of one table in one query: distinct `counted`."""
    filters = window_filters(time_field, now)
    annotations = {f"w_{i}": Count(counted, distinct=True, filter=q) for i, q in enumerate(filters)}
    rows = queryset.values(son_field).annotate(**annotations)
    return {row[son_field]: tuple(row[name] for name in annotations) for row in rows}
