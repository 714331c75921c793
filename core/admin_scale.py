"""Admin changelists of tables that grow without bound (deposits, withdrawals, transactions,
ledger entries, the audit log): no COUNT(*) of the whole table, no date hierarchy (it reads
every row's date to draw its links), searches that an index answers."""

from typing import Any

from django.db.models import Q, QuerySet
from django.http import HttpRequest

from core.admin_actions import ModelAdmin
from core.pagination import EstimatedCountPaginator

# Longer search terms are cut before they reach a query.
SEARCH_MAX_LENGTH = 200
# A term matching more related rows than this (usernames are unique: 1) is not a search.
RELATED_MATCHES_MAX = 100


class LargeTableAdmin(ModelAdmin):
    """search_fields here are exact matches (no UPPER(), no LIKE '%...%'): a field of the row,
    or `<relation>__<lookup>` whose related rows are looked up first, so that the changelist's
    own query stays on this table's indexes. list_defer names columns the list never shows."""

    paginator = EstimatedCountPaginator
    show_full_result_count = False
    list_defer: tuple[str, ...] = ()

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        queryset = super().get_queryset(request)
        return queryset.defer(*self.list_defer) if self.list_defer else queryset

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Any], search_term: str
    ) -> tuple[QuerySet[Any], bool]:
        term = search_term.strip()[:SEARCH_MAX_LENGTH]
        if not term:
            return queryset, False
        match = Q()
        for field in self.get_search_fields(request):
            match |= self._exact(field.lstrip("="), term)
        return (queryset.filter(match) if match else queryset.none()), False

    def _exact(self, field: str, term: str) -> Q:
        relation, _, lookup = field.partition("__")
        if not lookup:
            return Q(**{field: term})
        related = self.model._meta.get_field(relation).related_model
        ids = related._default_manager.filter(**{lookup: term}).values_list("pk", flat=True)
        ids = list(ids[: RELATED_MATCHES_MAX + 1])
        if not ids or len(ids) > RELATED_MATCHES_MAX:
            return Q()
        return Q(**{f"{relation}__in": ids})
