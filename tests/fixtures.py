"""Named personas and plain constructors shared by the tests."""

import hashlib
import time

import coincurve
from django.contrib.auth import get_user_model

from proposals.models import Witness
from sidechains import services
from sidechains.models import SON, Sidechain, SONPublicKey, SONStatistics
from signer.client import signed_heartbeat

User = get_user_model()
PASSWORD = "correct horse battery staple 9"


def make_user(username: str, *, staff: bool = False):
    user = User.objects.create_user(username=username, password=PASSWORD)
    if staff:
        user.is_staff = user.is_superuser = True
        user.save()
    return user


def make_witness(username: str, *, weight: int = 1, active: bool = True) -> Witness:
    return Witness.objects.create(user=make_user(username), weight=weight, active=active)


def make_son(name: str, *, owner=None, status: str = SON.Status.ACTIVE) -> tuple[SON, str]:
    """A SON with fresh keys and an API token; returns (son, token)."""
    owner = owner or make_user(f"operator_{name.replace('-', '_')}")
    son = SON.objects.create(name=name, owner=owner, status=status)
    for sidechain in Sidechain.values:
        key = son_key(name, sidechain).public_key.format().hex()
        SONPublicKey.objects.create(son=son, sidechain=sidechain, public_key=key)
        SONStatistics.objects.create(son=son, sidechain=sidechain)
    return son, services.son_issue_token(son=son)


def son_key(name: str, sidechain: str = Sidechain.BITCOIN) -> coincurve.PrivateKey:
    """The private key make_son registers for SON `name` on `sidechain` (tests only: derived
    from the name, so that tests can sign as the SON)."""
    return coincurve.PrivateKey(hashlib.sha256(f"test-son:{name}:{sidechain}".encode()).digest())


def heartbeat_body(son: SON, *, timestamp: int | None = None, nonce: str | None = None) -> dict:
    """A heartbeat for a SON made by make_son, signed as its signer signs it."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    return signed_heartbeat(son_key(son.name), son.pk, timestamp, nonce)
