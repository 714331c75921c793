"""Who has a second factor. The flows themselves (enrolling TOTP and WebAuthn keys, recovery
codes, asking for a code at login) are django-allauth's (allauth.mfa)."""

from allauth.mfa.models import Authenticator

# Recovery codes alone are not a second factor: they are the way back when one is lost.
FACTORS = (Authenticator.Type.TOTP, Authenticator.Type.WEBAUTHN)


def has_second_factor(user) -> bool:
    if not user.is_authenticated:
        return False
    return Authenticator.objects.filter(user=user, type__in=FACTORS).exists()
