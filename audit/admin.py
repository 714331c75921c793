from django.contrib import admin

from audit.models import AuditRecord


@admin.register(AuditRecord)
class AuditRecordAdmin(admin.ModelAdmin):
    """The log is read here, never written: records come only from the services."""

    list_display = ["created_at", "actor", "action", "target", "reason"]
    list_filter = ["action"]
    search_fields = ["=target", "actor__username", "action"]
    list_select_related = ["actor"]
    readonly_fields = ["created_at", "actor", "action", "target", "reason", "details"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
