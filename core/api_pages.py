"""Paging of the API's long lists: newest first, by cursor (`?cursor=`, taken from the `next`
or `previous` link of the page before), so that a page costs an index scan however long the
list grows and rows added meanwhile neither repeat nor vanish between pages (an offset would).

The answer is an object: {"next": url or null, "previous": url or null, "results": [...]}.
"""

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response

PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
# Longer cursors are refused before they are decoded (ours are about 30 characters).
CURSOR_MAX_LENGTH = 200


class NewestFirst(CursorPagination):
    page_size = PAGE_SIZE
    max_page_size = MAX_PAGE_SIZE
    page_size_query_param = "page_size"
    ordering = ("-created_at", "-id")

    def decode_cursor(self, request: Request) -> Any:
        """A bad cursor is bad input (400 with the field), not a missing object."""
        given = request.query_params.get(self.cursor_query_param, "")
        if len(given) > CURSOR_MAX_LENGTH:
            raise ValidationError({"cursor": ["Invalid cursor."]})
        try:
            return super().decode_cursor(request)
        except NotFound as e:
            raise ValidationError({"cursor": ["Invalid cursor."]}) from e


def paged(
    request: Request,
    queryset: QuerySet[Any],
    serializer: type[serializers.BaseSerializer],
    *,
    ordering: tuple[str, ...] = NewestFirst.ordering,
    context: dict | None = None,
) -> Response:
    """One page of `queryset` in `ordering` (whose last field must be unique), serialized."""
    paginator = NewestFirst()
    paginator.ordering = ordering
    rows = paginator.paginate_queryset(queryset, request)
    assert rows is not None
    return paginator.get_paginated_response(serializer(rows, many=True, context=context).data)


def page_of(name: str, item: serializers.BaseSerializer) -> serializers.Serializer:
    """The schema of one page of `item`s, for extend_schema(responses=...)."""
    link = "The URL of the {} page, or null at the end."
    return inline_serializer(
        name=name,
        fields={
            "next": serializers.URLField(allow_null=True, help_text=link.format("next")),
            "previous": serializers.URLField(allow_null=True, help_text=link.format("previous")),
            "results": item,
        },
    )


PAGE_PARAMETERS = [
    OpenApiParameter(
        "cursor",
        OpenApiTypes.STR,
        description="Where the page starts: copied from the `next` or `previous` link.",
    ),
    OpenApiParameter(
        "page_size",
        OpenApiTypes.INT,
        description=f"Rows per page, {PAGE_SIZE} by default, at most {MAX_PAGE_SIZE}.",
    ),
]
