from django.contrib import admin

from audit.models import AuditRecord
from core.admin_actions import ReadOnlyAdmin
from core.admin_scale import LargeTableAdmin


@admin.register(AuditRecord)
class AuditRecordAdmin(LargeTableAdmin, ReadOnlyAdmin):
    """The log is read here, never written: records come only from the services."""

    list_display = ["created_at", "actor", "action", "target", "reason"]
    list_filter = ["action"]
    search_fields = ["target", "actor__username", "action"]
    list_select_related = ["actor"]
    readonly_fields = ["created_at", "actor", "action", "target", "reason", "details"]
