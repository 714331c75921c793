"""Named personas and plain constructors shared by the tests."""

import secrets

import coincurve
from django.contrib.auth import get_user_model

from proposals.models import Witness
from sidechains import services
from sidechains.models import SON, Sidechain, SONPublicKey, SONStatistics

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
        key = coincurve.PrivateKey(secrets.token_bytes(32)).public_key.format().hex()
        SONPublicKey.objects.create(son=son, sidechain=sidechain, public_key=key)
        SONStatistics.objects.create(son=son, sidechain=sidechain)
    return son, services.son_issue_token(son=son)
