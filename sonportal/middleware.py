"""Guards that run before any view reads a request body."""

from django.conf import settings
from django.http import HttpRequest, JsonResponse

API_PREFIX = "/api/"
BODY_METHODS = {"POST", "PUT", "PATCH"}


class APIBodyLimitMiddleware:
    """Refuse API request bodies over API_MAX_BODY_BYTES before anything parses them.

    DRF's JSON parser reads the request stream itself, so DATA_UPLOAD_MAX_MEMORY_SIZE (which
    guards request.body and form parsing) does not bound it. The declared Content-Length is
    checked instead, and Django never reads past it; a body without one (chunked) is refused,
    because its size is unknown until it has been read.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest):
        if request.path_info.startswith(API_PREFIX):
            refusal = body_refusal(request)
            if refusal is not None:
                return refusal
        return self.get_response(request)


def body_refusal(request: HttpRequest) -> JsonResponse | None:
    """411, 400 or 413 for a body the API will not read; None for one it will."""
    declared = request.META.get("CONTENT_LENGTH", "")
    if request.META.get("HTTP_TRANSFER_ENCODING") or (
        request.method in BODY_METHODS and declared == ""
    ):
        return _refuse(411, "length_required", "Send the request body with a Content-Length.")
    if declared == "":
        return None
    if not declared.isascii() or not declared.isdigit() or len(declared) > 18:
        return _refuse(400, "bad_content_length", "The Content-Length is not a number of bytes.")
    limit = settings.API_MAX_BODY_BYTES
    if int(declared) > limit:
        return _refuse(413, "body_too_large", f"The request body is over {limit} bytes.")
    return None


def _refuse(status: int, code: str, detail: str) -> JsonResponse:
    return JsonResponse({"detail": detail, "code": code}, status=status)
