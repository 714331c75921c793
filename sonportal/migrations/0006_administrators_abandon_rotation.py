"""Administrators abandon a rotation transaction that signer refusals stranded (a reason, an
audit record; docs/rotation.md, docs/permissions.md)."""

import importlib

from django.db import migrations

ADMINISTRATORS = "administrators"
GRANTS = [("sidechains", "abandon_sidechaintransaction")]


def grant(apps, schema_editor) -> None:
    administrators = importlib.import_module("sonportal.migrations.0001_administrators")
    administrators._ensure_permissions(apps)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.get_or_create(name=ADMINISTRATORS)
    for app_label, codename in GRANTS:
        group.permissions.add(
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
        )


def revoke(apps, schema_editor) -> None:
    Group = apps.get_model("auth", "Group")
    group = Group.objects.filter(name=ADMINISTRATORS).first()
    if group is not None:
        codenames = [codename for _, codename in GRANTS]
        group.permissions.remove(*group.permissions.filter(codename__in=codenames))


class Migration(migrations.Migration):
    dependencies = [
        ("sonportal", "0005_health_report"),
        ("sidechains", "0011_sidechaintransaction_abandon"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
