from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.utils.cache import add_never_cache_headers


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
