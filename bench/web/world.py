"""The rows the pages need beyond the bulk (made through the ORM and the services), and the
signed-in sessions Locust's simulated people use (made directly: a login's password hash costs
~0.3 s of CPU and is not a page the benchmark measures)."""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal
from importlib import import_module
from pathlib import Path

import coincurve
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.auth.models import Group, User
from django.db import connection

from bench.web.seed import TIP, Shape
from proposals.models import Approval, Proposal, Witness
from rates.models import Pair
from rates.services import rate_set
from sidechains.models import ChainCursor
from sonportal.roles import ADMINISTRATORS_GROUP
from sons.models import SON, Sidechain, SONPublicKey, SONStatistics

SONS = 3
WITNESSES = 5


def build(shape: Shape) -> None:
    """Idempotent: a second run finds what the first made."""
    admin = _person("bench_admin", staff=True)
    admin.groups.add(Group.objects.get(name=ADMINISTRATORS_GROUP))
    if not ChainCursor.objects.filter(chain=Sidechain.BITCOIN).exists():
        rate_set(pair=Pair.BTC_PBTC, rate=Decimal(1), set_by=admin)
        ChainCursor.objects.create(chain=Sidechain.BITCOIN, height=TIP, recent=[])
    for i in range(1, SONS + 1):
        _son(i)
    witnesses = [_witness(i) for i in range(1, WITNESSES + 1)]
    first = SON.objects.get(name="son-1")
    Proposal.objects.filter(kind=Proposal.Kind.DEREGISTER_SON, son=None).update(son=first)
    for proposal in Proposal.objects.pending():
        for witness in witnesses[:2]:
            Approval.objects.get_or_create(
                proposal=proposal, witness=witness, defaults={"created_at": proposal.created_at}
            )
    with connection.cursor() as c:
        c.execute("ANALYZE")


def _person(username: str, *, staff: bool = False) -> User:
    user, _ = User.objects.get_or_create(username=username, defaults={"is_staff": staff})
    return user


def _son(i: int) -> SON:
    owner = _person(f"operator_{i}")
    son, made = SON.objects.get_or_create(name=f"son-{i}", defaults={"owner": owner})
    if made:
        for sidechain in Sidechain.values:
            seed = hashlib.sha256(f"bench-son:{i}:{sidechain}".encode()).digest()
            key = coincurve.PrivateKey(seed).public_key.format().hex()
            SONPublicKey.objects.create(son=son, sidechain=sidechain, public_key=key)
            SONStatistics.objects.create(son=son, sidechain=sidechain)
        SON.objects.filter(pk=son.pk).update(status=SON.Status.ACTIVE)
    return son


def _witness(i: int) -> Witness:
    witness, _ = Witness.objects.get_or_create(user=_person(f"witness_{i}"))
    return witness


def sessions(shape: Shape, users: int, path: Path) -> dict:
    """Session cookies for `users` ordinary users (user 1, the heavy one, first), the
    witnesses, the SON operators and the administrator; written as JSON to `path`."""
    engine = import_module(settings.SESSION_ENGINE)
    people = {
        "users": list(User.objects.filter(pk__lte=min(users, shape.users)).order_by("pk")),
        "witnesses": [w.user for w in Witness.objects.select_related("user")],
        "operators": [s.owner for s in SON.objects.select_related("owner").order_by("name")],
        "admins": [User.objects.get(username="bench_admin")],
    }
    _second_factors([person for group in people.values() for person in group])
    cookies = {role: [_session(engine, u) for u in group] for role, group in people.items()}
    cookies["sons"] = [s.name for s in SON.objects.order_by("name")]
    path.write_text(json.dumps(cookies))
    return cookies


def _second_factors(users: list[User]) -> None:
    """Everyone measured has a second factor, enrolled once (a reused database keeps it):
    withdrawal_request refuses a person without one, and administrators, witnesses and SON
    operators are sent to enrol before they can act."""
    from accounts.second_factor import has_second_factor
    from tests.fixtures import enrol_totp

    for user in users:
        if not has_second_factor(user):
            enrol_totp(user)


def _session(engine, user: User) -> str:
    store = engine.SessionStore()
    store[SESSION_KEY] = str(user.pk)
    store[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[0]  # what a login stores
    store[HASH_SESSION_KEY] = user.get_session_auth_hash()
    store.create()
    return store.session_key
