"""Named personas and plain constructors shared by the tests."""

import base64
import hashlib
import importlib
import secrets
import time

import coincurve
from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from allauth.mfa.totp.internal.auth import TOTP, format_hotp_value, hotp_value
from django.apps import apps as django_apps
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.core.cache import cache

from proposals.models import Witness
from signer.client import signed_heartbeat
from sonportal.roles import ADMINISTRATORS_GROUP
from sons import services
from sons.models import SON, Sidechain, SONPublicKey, SONStatistics

User = get_user_model()
PASSWORD = "correct horse battery staple 9"


def make_user(username: str, *, staff: bool = False, second_factor: bool = True):
    """A user with a verified email address, <username>@example.org; staff=True makes a
    superuser (every permission, including ones no group has). second_factor enrols TOTP, as
    withdrawing and every privileged role require (tests/browser.py's log_in types the code)."""
    user = User.objects.create_user(
        username=username, password=PASSWORD, email=f"{username}@example.org"
    )
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    if staff:
        user.is_staff = user.is_superuser = True
        user.save()
    if second_factor:
        enrol_totp(user)
    return user


def totp_secret(user) -> str:
    """The TOTP secret enrol_totp gives `user` (derived from the username, tests only)."""
    digest = hashlib.sha256(f"test-totp:{user.username}".encode()).digest()[:20]
    return base64.b32encode(digest).decode()


def enrol_totp(user) -> None:
    """TOTP and recovery codes, as allauth's enrolment leaves them."""
    TOTP.activate(user, totp_secret(user))
    RecoveryCodes.activate(user)


def totp_code(user) -> str:
    """The current TOTP code of a user enrolled by enrol_totp. allauth accepts a code once per
    period; tests log the same (reused) user id in within one, so the mark is forgotten."""
    left = 30 - time.time() % 30
    if left < 5:  # allauth allows no drift: a code typed as its period ends would be refused
        time.sleep(left + 0.1)
    code = format_hotp_value(hotp_value(totp_secret(user), int(time.time()) // 30))
    authenticator = Authenticator.objects.get(user=user, type=Authenticator.Type.TOTP)
    cache.delete(TOTP(authenticator)._get_used_cache_key(code))
    return code


def administrators_group() -> Group:
    """The group migration sonportal 0001 made; made again by that migration's own code when a
    transactional test has flushed the database since."""
    group = Group.objects.filter(name=ADMINISTRATORS_GROUP).first()
    if group is None:
        migration = importlib.import_module("sonportal.migrations.0001_administrators")
        migration.administrators_create(django_apps, None)
        later = importlib.import_module("sonportal.migrations.0002_administrators_circuit_breaker")
        later.administrators_grant(django_apps, None)
        solvency = importlib.import_module(
            "solvency.migrations.0001_liabilities_epochs_and_transfers"
        )
        solvency.administrators_grant(django_apps, None)
        importlib.import_module("sonportal.migrations.0003_hive_review").grant(django_apps, None)
        importlib.import_module("sonportal.migrations.0006_administrators_abandon_rotation").grant(
            django_apps, None
        )
        accounts = importlib.import_module(
            "accounts.migrations.0001_profiles_and_administrators_see_accounts"
        )
        accounts.administrators_see_accounts(django_apps, None)
        group = Group.objects.get(name=ADMINISTRATORS_GROUP)
    return group


def make_administrator(username: str = "admin"):
    """An administrator as production makes one: staff, in the administrators group, not a
    superuser."""
    user = make_user(username, second_factor=True)
    user.is_staff = True
    user.save()
    user.groups.add(administrators_group())
    return user


def make_view_only_staff(username: str = "viewer"):
    """Staff with every view permission and nothing else: may look at everything, change
    nothing."""
    user = make_user(username, second_factor=True)
    user.is_staff = True
    user.save()
    user.user_permissions.set(Permission.objects.filter(codename__startswith="view_"))
    return user


def make_witness(
    username: str, *, weight: int = 1, active: bool = True, second_factor: bool = True
) -> Witness:
    user = make_user(username, second_factor=second_factor)
    return Witness.objects.create(user=user, weight=weight, active=active)


def make_son(name: str, *, owner=None, status: str = SON.Status.ACTIVE) -> tuple[SON, str]:
    """A SON with fresh keys and an API token; returns (son, token)."""
    owner = owner or make_user(f"operator_{name.replace('-', '_')}", second_factor=True)
    son = SON.objects.create(name=name, owner=owner)
    for sidechain in Sidechain.values:
        key = son_key(name, sidechain).public_key.format().hex()
        SONPublicKey.objects.create(son=son, sidechain=sidechain, public_key=key)
        SONStatistics.objects.create(son=son, sidechain=sidechain)
    token = services.son_issue_token(
        son=son, by=None, reason="test fixture", via=services.TokenIssuer.COMMAND
    )
    SON.objects.filter(pk=son.pk).update(status=status)  # after the token: it may be deregistered
    son.refresh_from_db()
    return son, token


def son_key(name: str, sidechain: str = Sidechain.BITCOIN) -> coincurve.PrivateKey:
    """The private key make_son registers for SON `name` on `sidechain` (tests only: derived
    from the name, so that tests can sign as the SON)."""
    return coincurve.PrivateKey(hashlib.sha256(f"test-son:{name}:{sidechain}".encode()).digest())


def heartbeat_body(
    son: SON,
    *,
    timestamp: int | None = None,
    nonce: str | None = None,
    federations: list[str] | None = None,
    hive_federations: list[str] | None = None,
) -> dict:
    """A heartbeat for a SON made by make_son, signed as its signer signs it (version 2), with
    the lists given."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    key = son_key(son.name)
    return signed_heartbeat(key, son.pk, timestamp, nonce, federations, hive_federations)


def heartbeat_body_v1(son: SON, *, timestamp: int | None = None) -> dict:
    """A heartbeat as signers before version 2 sent it: no version, no lists, signed over
    b"sonportal-heartbeat:v1:<son>:<timestamp>:<nonce>"."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    nonce = secrets.token_hex(16)
    message = f"sonportal-heartbeat:v1:{son.pk}:{timestamp}:{nonce}".encode()
    signature = son_key(son.name).sign(message).hex()
    return {"son": son.pk, "timestamp": timestamp, "nonce": nonce, "signature": signature}
