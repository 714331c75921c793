from django.contrib import admin

from audit.models import AuditRecord
from audit.services import audit_record, audit_target
from core.admin_actions import ReadOnlyAdmin
from core.admin_scale import LargeTableAdmin


@admin.register(AuditRecord)
class AuditRecordAdmin(LargeTableAdmin, ReadOnlyAdmin):
    """The log is read here, never written: records come only from the services."""

    list_display = ["seq", "created_at", "actor", "action", "target", "reason"]
    list_filter = ["action"]
    search_fields = ["target", "actor__username", "action"]
    list_select_related = ["actor"]
    readonly_fields = [
        "seq",
        "created_at",
        "actor",
        "action",
        "target",
        "reason",
        "details",
        "prev_hash",
        "hash",
    ]


class AuditedAdminMixin:
    """For a ModelAdmin whose additions and changes belong in the audit log (SONs, witnesses):
    each one writes a record, in the admin's own transaction, with the admin's change message
    (the fields and inline rows changed)."""

    def log_addition(self, request, obj, message):
        self._audit(request, obj, "created", message)
        return super().log_addition(request, obj, message)  # type: ignore[misc]

    def log_change(self, request, obj, message):
        self._audit(request, obj, "changed", message)
        return super().log_change(request, obj, message)  # type: ignore[misc]

    def _audit(self, request, obj, verb: str, message) -> None:
        audit_record(
            actor=request.user,
            action=f"{obj._meta.model_name}.{verb}",
            target=audit_target(obj),
            details={"changes": message if isinstance(message, list) else str(message)},
        )
