"""Admin building blocks: read-only admins and inlines, and actions that ask why first.

Admin actions that change something ask why first.

As Django's delete_selected asks "are you sure?", these actions answer the first POST with a
confirmation page listing the selected objects and asking for a reason, and act only on the
second POST, with a non-empty reason, which the audit log records.
"""

from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib import admin
from django.contrib.admin import helpers
from django.db import models
from django.http import HttpRequest
from django.template.response import TemplateResponse

if TYPE_CHECKING:
    # Generic in django-stubs only: Django's own classes cannot be subscripted at runtime.
    ModelAdmin = admin.ModelAdmin[Any]
    TabularInline = admin.TabularInline[Any, Any]
else:
    ModelAdmin = admin.ModelAdmin
    TabularInline = admin.TabularInline

CONFIRM = "confirm_with_reason"


class ReasonForm(forms.Form):
    reason = forms.CharField(
        max_length=200,
        label="Reason",
        help_text="Kept in the audit log with your name.",
        widget=forms.TextInput(attrs={"size": 60, "autofocus": True}),
    )


def reason_or_page(
    modeladmin: ModelAdmin,
    request: HttpRequest,
    queryset: models.QuerySet[Any],
    *,
    title: str,
    warning: str,
) -> str | TemplateResponse:
    """The reason given on the confirmation page (a str), or that page (a TemplateResponse):
    on the action's first POST, and again, with the error, when the reason was empty."""
    form = ReasonForm(request.POST if CONFIRM in request.POST else None)
    if form.is_bound and form.is_valid():
        reason: str = form.cleaned_data["reason"]
        return reason
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": title,
        "warning": warning,
        "opts": modeladmin.model._meta,
        "queryset": queryset,
        "form": form,
        "action": request.POST.get("action", ""),
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        "confirm": CONFIRM,
    }
    request.current_app = modeladmin.admin_site.name
    return TemplateResponse(request, "admin/confirm_with_reason.html", context)


class ReadOnlyAdmin(ModelAdmin):
    """Rows written only by the pipelines and services: administrators look, never edit."""

    def has_add_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return False


class ReadOnlyInline(TabularInline):
    """An audit trail or a child row shown on its parent's page, never edited there."""

    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return False
