"""The four roles and where each lands after login.

Roles are derived from data, not stored twice: members of the "administrators" group (and
superusers) are administrators, an active Witness row makes a witness, owning a SON makes a SON
operator, and every signed-in person is a user.

A role only chooses home pages and navigation. What a person may do is checked, everywhere,
against a specific permission (docs/permissions.md); is_staff only opens the admin's door.
"""

from django.db import models
from django.urls import reverse

# Created by migration sonportal 0001 with the administrator's permissions.
ADMINISTRATORS_GROUP = "administrators"


class Role(models.TextChoices):
    ADMINISTRATOR = "administrator"
    WITNESS = "witness"
    SON_OPERATOR = "son_operator", "SON operator"
    USER = "user"


HOME_URL_NAMES = {
    Role.ADMINISTRATOR: "admin:index",
    Role.WITNESS: "proposals-home",
    Role.SON_OPERATOR: "sons-operator-home",
    Role.USER: "account-home",
}


def is_administrator(user) -> bool:
    """An active staff member of the administrators group, or an active staff superuser."""
    if not (user.is_authenticated and user.is_active and user.is_staff):
        return False
    return user.is_superuser or user.groups.filter(name=ADMINISTRATORS_GROUP).exists()


def roles_of(user) -> list[Role]:
    """The user's roles, most privileged first."""
    if not user.is_authenticated:
        return []
    roles = []
    if is_administrator(user):
        roles.append(Role.ADMINISTRATOR)
    if hasattr(user, "witness") and user.witness.active:
        roles.append(Role.WITNESS)
    if user.sons.registered().exists():
        roles.append(Role.SON_OPERATOR)
    roles.append(Role.USER)
    return roles


def needs_second_factor(user) -> bool:
    """Administrators, witnesses, SON operators and every staff member (the admin's door) must
    enrol a second factor before they can act (sonportal/middleware.py)."""
    return user.is_staff or roles_of(user) != [Role.USER]


def home_url(user) -> str:
    return reverse(HOME_URL_NAMES[roles_of(user)[0]])


def context_processor(request) -> dict:
    roles = roles_of(request.user)
    return {
        "roles": roles,
        "role_links": [(role.label, reverse(HOME_URL_NAMES[role])) for role in roles],
    }
