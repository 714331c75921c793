"""The "administrators" group: the permissions of the administrator role (docs/permissions.md).

is_staff only lets a person into the admin; what they may do there comes from this group. The
list is frozen here, as a migration's data must be: a later change of the role is a new
migration that changes the group.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations
from django.db.models import Q

ADMINISTRATORS = "administrators"

# What administrators change: rates, SONs and their keys, witnesses; and the custom permissions
# of their manual actions (tokens, failing withdrawals, rescans, resolving alerts).
GRANTS = [
    ("rates", "add_exchangerate"),
    ("sons", "issue_son_token"),
    ("sidechains", "resolve_withdrawal"),
    ("sidechains", "add_rescanjob"),
    ("sidechains", "change_alert"),
    ("sons", "add_son"),
    ("sons", "change_son"),
    ("sons", "add_sonpublickey"),
    ("sons", "change_sonpublickey"),
    ("proposals", "add_witness"),
    ("proposals", "change_witness"),
    # Read-only: the Witness form's user search, and who is in which group.
    ("auth", "view_user"),
    ("auth", "view_group"),
]
# Everything of these apps can be looked at (the pipelines, the ledger, the audit log, beat's
# schedule). Never auth's change_user or change_group: those would let a member make themself
# a superuser.
VIEW_ALL = [
    "audit",
    "django_celery_beat",
    "ledger",
    "mappings",
    "proposals",
    "rates",
    "sidechains",
    "sons",
]


def _ensure_permissions(apps) -> None:
    """Permissions are created after migrations (post_migrate); this data needs them now."""
    for app_config in apps.get_app_configs():
        stub = getattr(app_config, "models_module", None) is None
        if stub:
            app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        if stub:
            app_config.models_module = None


def _wanted(apps) -> set[tuple[str, str]]:
    views = {
        (model._meta.app_label, f"view_{model._meta.model_name}")
        for model in apps.get_models()
        if model._meta.app_label in VIEW_ALL
    }
    return set(GRANTS) | views


def administrators_create(apps, schema_editor) -> None:
    _ensure_permissions(apps)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    wanted = _wanted(apps)
    match = Q()
    for app_label, codename in wanted:
        match |= Q(content_type__app_label=app_label, codename=codename)
    permissions = list(Permission.objects.filter(match))
    found = {(p.content_type.app_label, p.codename) for p in permissions}
    if found != wanted:
        raise RuntimeError(f"Missing permissions: {sorted(wanted - found)}")
    group, _ = Group.objects.get_or_create(name=ADMINISTRATORS)
    group.permissions.set(permissions)


def administrators_delete(apps, schema_editor) -> None:
    apps.get_model("auth", "Group").objects.filter(name=ADMINISTRATORS).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("audit", "0002_append_only"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
        ("ledger", "0001_initial"),
        ("mappings", "0001_initial"),
        ("proposals", "0001_initial"),
        ("rates", "0003_append_only"),
        ("sidechains", "0001_initial"),
        ("sons", "0001_initial"),
    ]

    operations = [migrations.RunPython(administrators_create, administrators_delete)]
