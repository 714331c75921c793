"""API write throttles: POST, PUT, PATCH and DELETE count, reads never do.

Three scopes, each with its rate in settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]: "signer"
(per SON, for requests authenticated with a SON token: signers heartbeat and post signatures
often), "user_write" (per signed-in user) and "anon_write" (per client address). Each request
falls in exactly one scope. The counters live in the default cache (Redis).
"""

from rest_framework.permissions import SAFE_METHODS
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

from sons.models import SON


class WriteThrottle(SimpleRateThrottle):
    def allow_request(self, request, view) -> bool:
        if request.method in SAFE_METHODS:
            return True
        return super().allow_request(request, view)

    def get_rate(self) -> str:
        # Read the rates at each request, not once at import (DRF's default), so that a
        # change of settings applies.
        return api_settings.DEFAULT_THROTTLE_RATES[self.scope]


class SignerWriteThrottle(WriteThrottle):
    scope = "signer"

    def get_cache_key(self, request, view) -> str | None:
        if not isinstance(request.auth, SON):
            return None
        return self.cache_format % {"scope": self.scope, "ident": request.auth.pk}


class UserWriteThrottle(WriteThrottle):
    scope = "user_write"

    def get_cache_key(self, request, view) -> str | None:
        if isinstance(request.auth, SON) or not request.user.is_authenticated:
            return None
        return self.cache_format % {"scope": self.scope, "ident": request.user.pk}


class AnonWriteThrottle(WriteThrottle):
    scope = "anon_write"

    def get_cache_key(self, request, view) -> str | None:
        if request.user.is_authenticated:
            return None
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}
