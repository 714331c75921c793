from django.contrib import admin, messages
from django.template.response import TemplateResponse

from audit.admin import AuditedAdminMixin
from core.admin_actions import ReadOnlyAdmin, reason_or_page
from sons import services
from sons.models import SON, FederationVersion, SONPublicKey, SONStatistics, SONStatusChange


class SONPublicKeyInline(admin.TabularInline):
    model = SONPublicKey
    extra = 0


class SONStatisticsInline(admin.TabularInline):
    model = SONStatistics
    extra = 0
    readonly_fields = ["txs_signed", "deposits_reported", "withdrawals_reported"]


class SONStatusChangeInline(admin.TabularInline):
    model = SONStatusChange
    extra = 0
    can_delete = False
    readonly_fields = ["created_at", "old_status", "new_status", "reason"]

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(SON)
class SONAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ["name", "owner", "status", "last_heartbeat_at", "total_downtime"]
    list_filter = ["status"]
    search_fields = ["name", "owner__username", "public_keys__public_key"]
    readonly_fields = [
        "created_at",
        "last_heartbeat_at",
        "last_active_at",
        "last_down_at",
        "total_downtime",
        "token_created_at",
        "token_expires_at",
    ]
    inlines = [SONPublicKeyInline, SONStatisticsInline, SONStatusChangeInline]
    actions = ["issue_token"]

    @admin.display(description="token expires at")
    def token_expires_at(self, obj: SON):
        return obj.token_expires_at()

    def has_issue_son_token_permission(self, request) -> bool:
        return request.user.has_perm("sons.issue_son_token")

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None and not self.has_issue_son_token_permission(request):
            # A SON's owner can issue its token on the SON's page: handing a SON to someone
            # needs the permission to issue its token.
            fields.append("owner")
        return fields

    @admin.action(
        description="Issue a new API token (the old one stops working)",
        permissions=["issue_son_token"],
    )
    def issue_token(self, request, queryset):
        reason = reason_or_page(
            self,
            request,
            queryset,
            title="Issue new API tokens",
            warning="The signers of these SONs stop working until their operators install the "
            "new tokens, which are shown once, on the next page.",
        )
        if not isinstance(reason, str):
            return reason
        # The tokens are shown once in this response and stored nowhere but as hashes.
        tokens = []
        for son in queryset:
            try:
                token = services.son_issue_token(
                    son=son, by=request.user, reason=reason, via=services.TokenIssuer.ADMIN
                )
            except services.SONError as e:
                self.message_user(request, str(e), messages.ERROR)
            else:
                tokens.append((son, token))
        context = {**self.admin_site.each_context(request), "tokens": tokens, "opts": self.opts}
        # Admin views are never_cache: the page with the tokens is not stored by the browser.
        return TemplateResponse(request, "admin/sons/son/tokens.html", context)


@admin.register(SONStatusChange)
class SONStatusChangeAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "son", "old_status", "new_status", "reason"]
    list_filter = ["new_status", "son"]


@admin.register(FederationVersion)
class FederationVersionAdmin(ReadOnlyAdmin):
    """View-only: versions change by the witnesses' proposal and the rotation's steps
    (docs/rotation.md), never by hand."""

    list_display = ["sidechain", "status", "fingerprint_short", "m_of_n", "created_at"]
    list_filter = ["sidechain", "status"]
    readonly_fields = ["sidechain", "status", "keys", "fingerprint", "threshold", "created_at"]
    exclude = ["wallet_script"]

    @admin.display(description="fingerprint")
    def fingerprint_short(self, obj: FederationVersion) -> str:
        return obj.short_fingerprint()

    @admin.display(description="m of n")
    def m_of_n(self, obj: FederationVersion) -> str:
        return f"{obj.threshold} of {len(obj.keys)}"
