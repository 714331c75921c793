"""Administrators see the federation's versions (the admin list, view only) and the rotation's
steps, and so the rotation page (docs/rotation.md, docs/permissions.md)."""

import importlib

from django.db import migrations
from django.db.models import Q

ADMINISTRATORS = "administrators"
GRANTS = [
    ("sons", "view_federationversion"),
    ("sidechains", "view_rotationstep"),
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
        ("sonportal", "0003_hive_review"),
        ("sons", "0002_federation_rotation"),
        ("sidechains", "0005_rotation_steps"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
