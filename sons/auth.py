from django.utils import timezone
from rest_framework import authentication, exceptions

from sons.models import SON, hash_token

# secrets.token_urlsafe(32) is 43 characters; anything much longer is not a token of ours.
MAX_TOKEN_LENGTH = 128


def _refuse(code: str, detail: str) -> exceptions.AuthenticationFailed:
    """A 401 whose body names the reason: {"detail": ..., "code": ...}."""
    return exceptions.AuthenticationFailed({"detail": detail, "code": code})


class SONTokenAuthentication(authentication.BaseAuthentication):
    """`Authorization: Token <token>` from a SON's signer. request.auth is the SON.

    Only a SON in the federation (SON.FEDERATION_STATUSES), owned by an active user, with a
    token younger than SON_TOKEN_LIFETIME, is authenticated; every other token gets a 401 that
    says why (docs/signer.md).
    """

    keyword = "Token"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].decode(errors="replace") != self.keyword:
            return None
        son = self._son_of(header)
        self._check(son)
        return (son.owner, son)

    def _son_of(self, header: list[bytes]) -> SON:
        if len(header) != 2 or len(header[1]) > MAX_TOKEN_LENGTH:
            raise _refuse("malformed_token", "Malformed token header.")
        try:
            token = header[1].decode("ascii")
        except UnicodeDecodeError:
            raise _refuse("malformed_token", "Malformed token header.") from None
        son = SON.objects.select_related("owner").filter(token_hash=hash_token(token)).first()
        if son is None:
            raise _refuse("invalid_token", "Invalid SON token.")
        return son

    def _check(self, son: SON) -> None:
        if son.status == SON.Status.DEREGISTERED:
            raise _refuse("son_deregistered", "This SON is deregistered.")
        if son.status not in SON.FEDERATION_STATUSES:
            raise _refuse(
                "son_not_in_federation",
                f"This SON is {son.get_status_display()}: only SONs in the federation use the API.",
            )
        if not son.owner.is_active:
            raise _refuse("owner_disabled", "This SON's operator account is disabled.")
        expires_at = son.token_expires_at()
        if expires_at is None or expires_at <= timezone.now():
            raise _refuse(
                "token_expired",
                "This SON token has expired: the operator issues a new one on the SON's page.",
            )

    def authenticate_header(self, request):
        return self.keyword


class IsSON:
    """Only requests authenticated with a SON token."""

    def has_permission(self, request, view) -> bool:
        return isinstance(request.auth, SON)

    def has_object_permission(self, request, view, obj) -> bool:
        return True
