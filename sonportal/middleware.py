"""Guards around every request: API bodies are bounded before any view reads them, answers
to signed-in requests are not cached, and people with a privileged role act only once they have
a second factor."""

from collections.abc import Callable

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.utils.cache import add_never_cache_headers

from accounts.second_factor import has_second_factor
from sonportal.roles import needs_second_factor

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


class NoStoreForSignedInMiddleware:
    """`Cache-Control: no-store` (and private, max-age=0) on every answer to a request that
    carries credentials: a signed-in session, or an Authorization header (API tokens, the
    health token). Balances, addresses and tokens must not stay in a browser's or a proxy's
    cache. Placed after AuthenticationMiddleware; DRF's authentication, which runs in the view,
    sets request.user before the answer comes back here."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if _carries_credentials(request):
            add_never_cache_headers(response)
        return response


def _carries_credentials(request: HttpRequest) -> bool:
    if "HTTP_AUTHORIZATION" in request.META:
        return True
    user = getattr(request, "user", None)
    return bool(user is not None and user.is_authenticated)


# What a person without their required second factor may still reach: allauth's pages (to
# enrol one, log out, manage their email and password) and static files.
SECOND_FACTOR_FREE_PREFIXES = ("/accounts/", "/static/", "/healthz")


class SecondFactorRequiredMiddleware:
    """Administrators, witnesses, SON operators and any staff member cannot act until they
    have enrolled a second factor (TOTP or a WebAuthn key): every page but allauth's sends
    them to the enrolment page, and the API answers 403. SON tokens are not sessions: the
    signer API is untouched (its requests carry no signed-in session)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        path = request.path_info
        user = request.user
        if (
            user.is_authenticated
            and not path.startswith(SECOND_FACTOR_FREE_PREFIXES)
            and needs_second_factor(user)
            and not has_second_factor(user)
        ):
            return _second_factor_missing(request)
        return self.get_response(request)


def _second_factor_missing(request: HttpRequest) -> HttpResponse:
    text = "Your role needs a second factor: add an authenticator app or a security key first."
    if request.path_info.startswith(API_PREFIX):
        return _refuse(403, "second_factor_required", text)
    messages.warning(request, text)
    return redirect("mfa_index")
