"""Administrators review held Hive deposits ("credit to user", "refund to sender") and see the
Hive deposits, transactions and ownership claims (docs/permissions.md)."""

import importlib

from django.db import migrations
from django.db.models import Q

ADMINISTRATORS = "administrators"
GRANTS = [
    ("sidechains", "review_hivedeposit"),
    ("sidechains", "view_hivedeposit"),
    ("sidechains", "view_hivedepositevent"),
    ("sidechains", "view_hivetransaction"),
    ("sidechains", "view_hivepayout"),
    ("sidechains", "view_hivesignature"),
    ("mappings", "view_hiveownershipclaim"),
]


def grant(apps, schema_editor) -> None:
    administrators = importlib.import_module("sonportal.migrations.0001_administrators")
    administrators._ensure_permissions(apps)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    match = Q()
    for app_label, codename in GRANTS:
        match |= Q(content_type__app_label=app_label, codename=codename)
    permissions = list(Permission.objects.filter(match))
    if len(permissions) != len(GRANTS):
        raise RuntimeError(f"Missing permissions among {GRANTS}")
    group, _ = Group.objects.get_or_create(name=ADMINISTRATORS)
    group.permissions.add(*permissions)


def revoke(apps, schema_editor) -> None:
    Group = apps.get_model("auth", "Group")
    group = Group.objects.filter(name=ADMINISTRATORS).first()
    if group is not None:
        codenames = [codename for _, codename in GRANTS]
        group.permissions.remove(*group.permissions.filter(codename__in=codenames))


class Migration(migrations.Migration):
    dependencies = [
        ("sonportal", "0002_administrators_circuit_breaker"),
        ("mappings", "0002_hive_ownership"),
        ("sidechains", "0004_hive"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
