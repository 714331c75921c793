"""allauth's admins, made to check permissions like ours and to show no secret.

- Its email admin offered "mark verified" to anyone who could see the list: here the action
  needs the permission to change addresses.
- Its authenticator admin showed an authenticator's data (the TOTP secret, the recovery codes'
  seed) and its session admin the session key, to anyone with the view permission: here both
  are read-only lists without those fields.
(Loaded by admin autodiscovery after allauth's, which it replaces.)
"""

from allauth.account.admin import EmailAddressAdmin as AllauthEmailAddressAdmin
from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from allauth.usersessions.models import UserSession
from django.contrib import admin

from core.admin_actions import ReadOnlyAdmin


class EmailAddressAdmin(AllauthEmailAddressAdmin):
    @admin.action(description="Mark selected email addresses as verified", permissions=["change"])
    def make_verified(self, request, queryset):
        return super().make_verified(request, queryset)


class AuthenticatorAdmin(ReadOnlyAdmin):
    list_display = ("user", "type", "created_at", "last_used_at")
    list_filter = ("type", "created_at", "last_used_at")
    fields = ("user", "type", "created_at", "last_used_at")
    search_fields = ("user__username",)


class UserSessionAdmin(ReadOnlyAdmin):
    list_display = ("user", "created_at", "last_seen_at", "ip", "user_agent")
    fields = ("user", "created_at", "last_seen_at", "ip", "user_agent")
    search_fields = ("user__username", "ip")


for model, model_admin in (
    (EmailAddress, EmailAddressAdmin),
    (Authenticator, AuthenticatorAdmin),
    (UserSession, UserSessionAdmin),
):
    admin.site.unregister(model)
    admin.site.register(model, model_admin)
