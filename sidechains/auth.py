from rest_framework import authentication, exceptions

from sidechains.models import SON, hash_token


class SONTokenAuthentication(authentication.BaseAuthentication):
    """`Authorization: Token <token>` from a SON's signer. request.auth is the SON."""

    keyword = "Token"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].decode(errors="replace") != self.keyword:
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Malformed token header.")
        try:
            token = header[1].decode()
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("Malformed token header.") from None
        son = SON.objects.select_related("owner").filter(token_hash=hash_token(token)).first()
        if son is None:
            raise exceptions.AuthenticationFailed("Invalid SON token.")
        if son.status == SON.Status.DEREGISTERED:
            raise exceptions.AuthenticationFailed("This SON is deregistered.")
        return (son.owner, son)

    def authenticate_header(self, request):
        return self.keyword


class IsSON:
    """Only requests authenticated with a SON token."""

    def has_permission(self, request, view) -> bool:
        return isinstance(request.auth, SON)

    def has_object_permission(self, request, view, obj) -> bool:
        return True
