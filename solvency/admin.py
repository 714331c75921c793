from django.contrib import admin

from core.admin_actions import ReadOnlyAdmin
from solvency.models import Epoch


@admin.register(Epoch)
class EpochAdmin(ReadOnlyAdmin):
    """Epochs are made by beat or on the epochs page (solvency.create_epoch), never here."""

    list_display = ["number", "created_at", "created_by", "leaf_count", "root"]
    fields = [
        "number",
        "created_at",
        "created_by",
        "assets",
        "totals",
        "root",
        "prev_root",
        "audit_head",
        "leaf_count",
    ]
    readonly_fields = fields
