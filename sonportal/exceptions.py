"""Every error answer of the API carries a stable machine-readable `code` next to its `detail`."""

from django.core.exceptions import PermissionDenied
from django.http import Http404
from rest_framework.views import exception_handler

# Django's own exceptions, which DRF turns into answers without a code of their own.
DJANGO_CODES = {Http404: "not_found", PermissionDenied: "permission_denied"}


def api_exception_handler(exc, context):
    """DRF's own handler, plus the exception's code where the answer is a bare detail."""
    response = exception_handler(exc, context)
    if response is None or not isinstance(response.data, dict):
        return response
    if "detail" in response.data and "code" not in response.data:
        codes = exc.get_codes() if hasattr(exc, "get_codes") else DJANGO_CODES.get(type(exc))
        response.data["code"] = codes if isinstance(codes, str) else "error"
    return response
