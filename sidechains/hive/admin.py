"""Held Hive deposits in the admin: "credit to user" and "refund to sender" (docs/hive.md)."""

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import URLPattern, path, reverse

from audit.services import audit_record, audit_target
from core.admin_actions import ReadOnlyAdmin, ReadOnlyInline, reason_or_page
from rates.assets import DECIMALS, amount_format
from sidechains.hive import deposits
from sidechains.models import (
    HiveDeposit,
    HiveDepositEvent,
    HivePayout,
    HiveSignature,
    HiveTransaction,
)


class CreditForm(forms.Form):
    username = forms.CharField(max_length=150, label="Portal user")
    reason = forms.CharField(
        max_length=200, label="Reason", help_text="Kept in the audit log with your name."
    )

    def clean_username(self) -> User:
        name = self.cleaned_data["username"].strip()
        user = get_user_model().objects.filter(username=name, is_active=True).first()
        if user is None:
            raise forms.ValidationError("There is no active portal user with this name.")
        return user


class HiveDepositEventInline(ReadOnlyInline):
    model = HiveDepositEvent
    fields = readonly_fields = ("created_at", "old_status", "new_status", "note")


@admin.register(HiveDeposit)
class HiveDepositAdmin(ReadOnlyAdmin):
    list_display = ["trx_id", "op_index", "sender", "amount_display", "user", "status", "hold"]
    list_filter = ["status", "hold", "asset"]
    search_fields = ["=trx_id", "=sender", "user__username"]
    list_select_related = ["user"]
    inlines = (HiveDepositEventInline,)
    actions = ["credit_to_user", "refund_to_sender"]

    @admin.display(description="amount", ordering="amount")
    def amount_display(self, obj: HiveDeposit) -> str:
        if obj.asset not in DECIMALS:  # a transfer of something else, held
            return f"{obj.amount} thousandths of {obj.asset}"
        return amount_format(obj.amount, obj.asset)

    def has_review_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.has_perm("sidechains.review_hivedeposit"))

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view(self.credit_view)
        return [
            path("<int:object_id>/credit/", view, name="sidechains_hivedeposit_credit"),
            *super().get_urls(),
        ]

    @admin.action(description="Credit the held deposit to a user…", permissions=["review"])
    def credit_to_user(self, request: HttpRequest, queryset: QuerySet[HiveDeposit]) -> HttpResponse:
        deposit = queryset.get(pk=queryset.values_list("pk", flat=True)[:1])
        return HttpResponseRedirect(
            reverse("admin:sidechains_hivedeposit_credit", args=[deposit.pk])
        )

    @admin.action(description="Refund the held deposits to their senders", permissions=["review"])
    def refund_to_sender(
        self, request: HttpRequest, queryset: QuerySet[HiveDeposit]
    ) -> HttpResponse | None:
        reason = reason_or_page(
            self,
            request,
            queryset,
            title="Refund Hive deposits",
            warning="Held deposits go back to the accounts that sent them, through the signers.",
        )
        if not isinstance(reason, str):
            return reason
        for deposit in queryset:
            try:
                with transaction.atomic():
                    deposits.hive_deposit_refund(deposit_id=deposit.pk)
                    audit_record(
                        actor=request.user,
                        action="hive_deposit.refund",
                        target=audit_target(deposit),
                        reason=reason,
                    )
            except deposits.HiveDepositError as e:
                self.message_user(request, str(e), messages.ERROR)
        return None

    def credit_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        deposit = self.get_object(request, str(object_id))
        if deposit is None or not self.has_review_permission(request):
            raise PermissionDenied
        assert isinstance(request.user, User)  # the admin site lets only staff in
        form = CreditForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                credit_held(deposit, by=request.user, **form.cleaned_data)
            except deposits.HiveDepositError as e:
                form.add_error(None, str(e))
            else:
                url = reverse("admin:sidechains_hivedeposit_change", args=[deposit.pk])
                return HttpResponseRedirect(url)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "deposit": deposit,
            "form": form,
            "title": f"Credit Hive deposit {deposit.pk}",
        }
        return render(request, "admin/sidechains/hivedeposit/credit.html", context)


@transaction.atomic
def credit_held(deposit: HiveDeposit, *, by: User, username: User, reason: str) -> HiveDeposit:
    if deposit.status != HiveDeposit.Status.HELD:
        raise deposits.HiveDepositError(f"Hive deposit {deposit.pk} is {deposit.status}.")
    credited = deposits.hive_deposit_credit(deposit_id=deposit.pk, user=username)
    audit_record(
        actor=by,
        action="hive_deposit.credit",
        target=audit_target(deposit),
        reason=reason,
        details={"user": username.username, "status": credited.status},
    )
    return credited


class HivePayoutInline(ReadOnlyInline):
    model = HivePayout
    fields = readonly_fields = ("withdrawal", "refund")


class HiveSignatureInline(ReadOnlyInline):
    model = HiveSignature
    fields = readonly_fields = ("son", "public_key", "created_at")


@admin.register(HiveTransaction)
class HiveTransactionAdmin(ReadOnlyAdmin):
    list_display = ["trx_id", "status", "expiration", "block_num", "created_at"]
    list_filter = ["status"]
    search_fields = ["=trx_id"]
    inlines = (HivePayoutInline, HiveSignatureInline)
