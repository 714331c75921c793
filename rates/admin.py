from django.contrib import admin

from rates import services
from rates.forms import ExchangeRateAdminForm
from rates.models import ExchangeRate


@admin.register(ExchangeRate)
class ExchangeRateAdmin(admin.ModelAdmin):
    """Add only: the list is append-only, so there is no change and no delete."""

    form = ExchangeRateAdminForm
    list_display = ["pair", "rate", "valid_from", "set_by", "note", "created_at"]
    list_filter = ["pair"]
    list_select_related = ["set_by"]
    ordering = ["pair", "-valid_from"]
    readonly_fields = ["set_by", "created_at", "request_id"]

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["pair", "rate", "valid_from", "note"]
        return ["pair", "rate", "valid_from", "set_by", "note", "created_at", "request_id"]

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change, **kwargs)
        form.set_by = request.user  # a fresh class per request (modelform_factory)
        return form

    def save_form(self, request, form, change):
        # The service writes the row (set_by = the administrator); the admin never saves one.
        return services.rate_set(set_by=request.user, **form.cleaned_data)

    def save_model(self, request, obj, form, change) -> None:
        pass  # saved by save_form

    def save_related(self, request, form, formsets, change) -> None:
        pass  # no relations to save
