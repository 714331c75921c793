"""Who has a second factor. The flows themselves (enrolling TOTP and WebAuthn keys, recovery
codes, asking for a code at login) are django-allauth's (allauth.mfa)."""

from typing import Any

from allauth.mfa.models import Authenticator

# Recovery codes alone are not a second factor: they are the way back when one is lost.
FACTORS = (Authenticator.Type.TOTP, Authenticator.Type.WEBAUTHN)


def has_second_factor(user: Any) -> bool:
    if not user.is_authenticated:
        return False
    return bool(Authenticator.objects.filter(user=user, type__in=FACTORS).exists())


def second_factor_verify(*, user: Any, code: str) -> bool:
    """Whether `code` is the current code of the user's authenticator app or one of their
    unused recovery codes (which it then uses up); allauth's own checks, each code taken once.
    Security keys cannot type a code: their holders use a recovery code here."""
    code = code.strip()
    if not code or len(code) > 64:
        return False
    authenticators = Authenticator.objects.filter(
        user=user, type__in=(Authenticator.Type.TOTP, Authenticator.Type.RECOVERY_CODES)
    )
    for authenticator in authenticators:
        if authenticator.wrap().validate_code(code):
            authenticator.record_usage()
            return True
    return False
