"""People's profiles (time zone, notifications turned off); and administrators see people's
email addresses, second factors (which kind, when used; never their secrets: accounts/admin.py)
and sessions, read-only. sonportal 0001's group is frozen; this adds to it."""

import django.db.models.deletion
from django.conf import settings
from django.contrib.auth.management import create_permissions
from django.db import migrations, models

VIEWS = [
    ("account", "view_emailaddress"),
    ("mfa", "view_authenticator"),
    ("usersessions", "view_usersession"),
]


def _ensure_permissions(apps) -> None:
    """Permissions are created after migrations (post_migrate); this data needs them now."""
    for app_label in sorted({app_label for app_label, _ in VIEWS}):
        app_config = apps.get_app_config(app_label)
        stub = getattr(app_config, "models_module", None) is None
        if stub:
            app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        if stub:
            app_config.models_module = None


def administrators_see_accounts(apps, schema_editor) -> None:
    _ensure_permissions(apps)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group = Group.objects.get(name="administrators")
    for app_label, codename in VIEWS:
        group.permissions.add(
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
        )


def administrators_unsee_accounts(apps, schema_editor) -> None:
    Group = apps.get_model("auth", "Group")
    group = Group.objects.filter(name="administrators").first()
    if group is not None:
        for app_label, codename in VIEWS:
            group.permissions.remove(
                *group.permissions.filter(content_type__app_label=app_label, codename=codename)
            )


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
        ("sonportal", "0001_administrators"),
        ("account", "0009_emailaddress_unique_primary_email"),
        ("mfa", "0003_authenticator_type_uniq"),
        ("usersessions", "0001_initial"),
    ]

    operations = [
        migrations.CreateModel(
            name="Profile",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("time_zone", models.CharField(default="UTC", max_length=64)),
                ("muted", models.JSONField(blank=True, default=list)),
                (
                    "user",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="profile",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
        ),
        migrations.RunPython(administrators_see_accounts, administrators_unsee_accounts),
    ]
