"""Administrators resume a tripped circuit breaker (with a reason) and see the reserves checks
(docs/permissions.md)."""

import importlib

from django.db import migrations

GRANTS = [
    ("sidechains", "resume_circuitbreaker"),
    ("sidechains", "view_circuitbreaker"),
    ("sidechains", "view_reservescheck"),
]


def administrators_grant(apps, schema_editor) -> None:
    first = importlib.import_module("sonportal.migrations.0001_administrators")
    first._ensure_permissions(apps)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.get_or_create(name=first.ADMINISTRATORS)
    for app_label, codename in GRANTS:
        group.permissions.add(
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
        )


class Migration(migrations.Migration):
    dependencies = [
        ("sonportal", "0001_administrators"),
        ("sidechains", "0002_solvency"),
    ]

    operations = [migrations.RunPython(administrators_grant, migrations.RunPython.noop)]
