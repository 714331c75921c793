"""Pages of long lists: people's pages show one page of their rows, and big admin changelists
count with PostgreSQL's estimate instead of a full COUNT(*)."""

from typing import TYPE_CHECKING, Any

from django.core.paginator import Page, Paginator
from django.db import connection
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.functional import cached_property

if TYPE_CHECKING:
    # Generic in django-stubs only.
    AnyPaginator = Paginator[Any]
else:
    AnyPaginator = Paginator

# Longer page numbers are treated as no page number (the first page), before int() sees them.
PAGE_PARAM_MAX_LENGTH = 9


def page_of(request: HttpRequest, queryset: QuerySet[Any], per_page: int) -> Page[Any]:
    """The page the request's ?page= names; the first page for a missing or bad number, the
    last one for a number past the end (Paginator.get_page)."""
    number = request.GET.get("page", "")
    if len(number) > PAGE_PARAM_MAX_LENGTH:
        number = ""
    return Paginator(queryset, per_page).get_page(number)


def estimated_rows(table: str) -> int | None:
    """PostgreSQL's estimate of a table's rows (pg_class.reltuples, kept by autovacuum and
    ANALYZE); None when the table has never been analyzed."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass", [table])
        row = cursor.fetchone()
    if row is None or row[0] < 0:
        return None
    return int(row[0])


class EstimatedCountPaginator(AnyPaginator):
    """For admin changelists of tables that grow without bound: an unfiltered list counts with
    the planner's estimate when the table is large (an exact COUNT(*) reads every row); a
    filtered one, or a small table, counts exactly."""

    EXACT_BELOW = 100_000

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        if isinstance(queryset, QuerySet) and not queryset.query.where:
            estimate = estimated_rows(queryset.model._meta.db_table)
            if estimate is not None and estimate >= self.EXACT_BELOW:
                return estimate
        return queryset.count() if isinstance(queryset, QuerySet) else len(queryset)
