"""Seed the demo: one administrator (a member of the administrators group, not a superuser),
three witnesses, the SONs whose signers the stack started, two users. Safe to re-run: it sets
fresh passwords and tokens and prints the logins.
"""

import json
import os
import secrets
from pathlib import Path

from allauth.account.models import EmailAddress
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from proposals.models import Witness
from sonportal.roles import ADMINISTRATORS_GROUP
from sons import services
from sons.models import SON, Sidechain, SONPublicKey, SONStatistics

User = get_user_model()

WITNESSES = ["witness_alice", "witness_bob", "witness_dave"]
USERS = ["user_carol", "user_erin"]


class Command(BaseCommand):
    help = "Create or refresh the demo accounts, witnesses and SONs."

    def add_arguments(self, parser):
        parser.add_argument(
            "--sons",
            required=True,
            help="JSON file: [{name, bitcoin, hive, token_file}] from the signers' keygen",
        )

    def handle(self, *args, sons, **options):
        try:
            son_specs = json.loads(Path(sons).read_text())
        except (OSError, ValueError) as e:
            raise CommandError(f"cannot read {sons}: {e}") from e
        logins = []
        with transaction.atomic():
            group = Group.objects.filter(name=ADMINISTRATORS_GROUP).first()
            if group is None:
                raise CommandError("The administrators group is missing: run migrate first.")
            admin, password = self.person("admin", staff=True)
            admin.groups.set([group])
            logins.append(("administrator", "admin", password))
            for name in WITNESSES:
                user, password = self.person(name)
                Witness.objects.update_or_create(user=user, defaults={"active": True, "weight": 1})
                logins.append(("witness", name, password))
            tokens = []
            for spec in son_specs:
                operator, password = self.person(f"operator_{spec['name'].replace('-', '_')}")
                tokens += self.token(self.son(spec, operator), spec["token_file"])
                logins.append(("SON operator", operator.username, password))
            for name in USERS:
                _, password = self.person(name)
                logins.append(("user", name, password))
        for path, token in tokens:
            write_private(Path(path), token)
        self.stdout.write(
            "Demo logins (role, username, password; administrators, witnesses and SON"
            " operators enrol a second factor at their first login):"
        )
        for role, username, password in logins:
            self.stdout.write(f"  {role:<14} {username:<20} {password}")

    def person(self, username: str, *, staff: bool = False):
        password = secrets.token_urlsafe(9)
        user, _ = User.objects.get_or_create(username=username)
        # Staff only opens the admin's door; the administrators group holds the permissions.
        user.is_staff = staff
        user.is_superuser = False
        user.set_password(password)
        # A verified address at the demo's mail catcher: allauth lets no unverified one log in.
        user.email = f"{username}@demo.invalid"
        user.save()
        EmailAddress.objects.update_or_create(
            user=user, email=user.email, defaults={"verified": True, "primary": True}
        )
        return user, password

    def token(self, son: SON, path: str) -> list[tuple[str, str]]:
        """A fresh token for the SON's signer; none for a SON deregistered in an earlier run."""
        try:
            token = services.son_issue_token(
                son=son, by=None, reason="demo seed", via=services.TokenIssuer.DEMO
            )
        except services.SONError as e:
            self.stderr.write(f"{e} Its signer will be refused.")
            return []
        return [(path, token)]

    def son(self, spec: dict, operator) -> SON:
        son, _ = SON.objects.get_or_create(
            name=spec["name"], defaults={"owner": operator, "status": SON.Status.ACTIVE}
        )
        for sidechain in Sidechain.values:
            SONPublicKey.objects.update_or_create(
                son=son, sidechain=sidechain, defaults={"public_key": spec[sidechain]}
            )
            SONStatistics.objects.get_or_create(son=son, sidechain=sidechain)
        return son


def write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
