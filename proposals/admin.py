from django.contrib import admin

from audit.admin import AuditedAdminMixin
from core.admin_actions import ReadOnlyAdmin, ReadOnlyInline
from proposals.models import Approval, Proposal, ProposalEvent, Witness


@admin.register(Witness)
class WitnessAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ["user", "weight", "active", "created_at"]
    list_filter = ["active"]
    search_fields = ["user__username"]
    autocomplete_fields = ["user"]


class ApprovalInline(ReadOnlyInline):
    model = Approval
    fields = readonly_fields = ["witness", "created_at"]


class ProposalEventInline(ReadOnlyInline):
    model = ProposalEvent
    fields = readonly_fields = ["created_at", "kind", "witness", "detail"]


@admin.register(Proposal)
class ProposalAdmin(ReadOnlyAdmin):
    """Proposals change only through witnesses' approvals and the beat: read-only here."""

    list_display = ["__str__", "kind", "status", "created_at", "expires_at", "executed_at"]
    list_filter = ["kind", "status"]
    search_fields = ["son__name", "result"]
    inlines = [ApprovalInline, ProposalEventInline]
