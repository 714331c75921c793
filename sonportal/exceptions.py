"""Every error answer of the API carries a stable machine-readable `code` next to its `detail`."""

from rest_framework.views import exception_handler


def api_exception_handler(exc, context):
    """DRF's own handler, plus the exception's code where the answer is a bare detail."""
    response = exception_handler(exc, context)
    if response is None or not isinstance(response.data, dict):
        return response
    if "detail" in response.data and "code" not in response.data:
        codes = exc.get_codes() if hasattr(exc, "get_codes") else None
        response.data["code"] = codes if isinstance(codes, str) else "error"
    return response
