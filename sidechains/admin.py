from django.contrib import admin
from django.template.response import TemplateResponse

from sidechains import services
from sidechains.models import SON, SONPublicKey, SONStatistics, SONStatusChange


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
class SONAdmin(admin.ModelAdmin):
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
    ]
    inlines = [SONPublicKeyInline, SONStatisticsInline, SONStatusChangeInline]
    actions = ["issue_token"]

    @admin.action(description="Issue a new API token (the old one stops working)")
    def issue_token(self, request, queryset):
        # The tokens are shown once in this response and stored nowhere but as hashes.
        tokens = [(son, services.son_issue_token(son=son)) for son in queryset]
        context = {**self.admin_site.each_context(request), "tokens": tokens, "opts": self.opts}
        # Admin views are never_cache: the page with the tokens is not stored by the browser.
        return TemplateResponse(request, "admin/sidechains/son/tokens.html", context)


@admin.register(SONStatusChange)
class SONStatusChangeAdmin(admin.ModelAdmin):
    list_display = ["created_at", "son", "old_status", "new_status", "reason"]
    list_filter = ["new_status", "son"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
