from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import path, reverse
from django.utils.html import format_html

from audit.services import audit_record, audit_target
from chains.bitcoin.rpc import BitcoinRPCError
from core.admin_actions import ReadOnlyAdmin, ReadOnlyInline, reason_or_page
from core.admin_scale import LargeTableAdmin
from rates.assets import Asset, amount_format
from sidechains.alerts import alerts_resolve
from sidechains.bitcoin.listener import RescanError, rescan_start
from sidechains.bitcoin.node import bitcoin_rpc
from sidechains.bitcoin.reserves import BreakerError, breaker_resume
from sidechains.hive import admin as hive_admin  # noqa: F401  registers HiveDepositAdmin
from sidechains.models import (
    Alert,
    ChainCursor,
    CircuitBreaker,
    Coin,
    Deposit,
    DepositEvent,
    RescanJob,
    ReservesCheck,
    SidechainTransaction,
    SignerRefusal,
    TxInput,
    TxSignature,
    Withdrawal,
    WithdrawalEvent,
)
from sidechains.refusals import reasons_words
from sidechains.tasks import bitcoin_rescan
from sons.models import Sidechain


class DepositEventInline(admin.TabularInline):
    model = DepositEvent
    extra = 0
    can_delete = False
    fields = readonly_fields = ["created_at", "old_status", "new_status", "note"]

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


def btc(satoshi: int) -> str:
    """Amounts in admin lists carry their unit: 150000000 -> "1.50000000 BTC"."""
    return amount_format(satoshi, Asset.BTC)


def sidechain_amount(withdrawal: Withdrawal) -> str:
    if withdrawal.asset in (Asset.HIVE, Asset.HBD):
        return amount_format(withdrawal.amount, withdrawal.asset)
    return f"{withdrawal.amount} base units"


@admin.register(Deposit)
class DepositAdmin(LargeTableAdmin, ReadOnlyAdmin):
    list_display = [
        "txid",
        "vout",
        "user",
        "amount_display",
        "status",
        "block_height",
        "detected_at",
    ]
    list_filter = ["status", "chain", "detected_at"]
    search_fields = ["txid", "user__username"]
    list_select_related = ["user"]
    list_defer = ("raw_tx",)
    inlines = [DepositEventInline]

    @admin.display(description="amount", ordering="amount")
    def amount_display(self, obj: Deposit) -> str:
        return btc(obj.amount) if obj.chain == Sidechain.BITCOIN else str(obj.amount)


class AlertOpenFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("open", "open"), ("resolved", "resolved")]

    def queryset(self, request, queryset):
        if self.value() in ("open", "resolved"):
            return queryset.filter(resolved_at__isnull=self.value() == "open")
        return queryset


@admin.register(Alert)
class AlertAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "kind", "message", "deposit", "resolved_at"]
    list_filter = [AlertOpenFilter, "kind"]
    actions = ["mark_resolved"]

    def has_resolve_permission(self, request) -> bool:
        return request.user.has_perm("sidechains.change_alert")

    @admin.action(description="Mark resolved", permissions=["resolve"])
    def mark_resolved(self, request, queryset):
        reason = reason_or_page(
            self,
            request,
            queryset,
            title="Resolve alerts",
            warning="Say what was done about these alerts.",
        )
        if not isinstance(reason, str):
            return reason
        n = alerts_resolve(alerts=queryset, by=request.user, reason=reason)
        self.message_user(request, f"{n} alert(s) marked resolved.", messages.SUCCESS)
        return None


class RescanForm(forms.Form):
    from_height = forms.IntegerField(min_value=0, label="From height")
    to_height = forms.IntegerField(
        min_value=0, required=False, label="To height", help_text="Empty: up to the current tip."
    )
    reason = forms.CharField(
        max_length=200, label="Reason", help_text="Kept in the audit log with your name."
    )

    def __init__(self, *args, tip: int | None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.tip = tip

    def clean(self):
        data = super().clean()
        start, end = data.get("from_height"), data.get("to_height")
        if self.tip is None:
            raise forms.ValidationError("The node is unavailable, so its tip is unknown: retry.")
        if start is not None and start > self.tip:
            self.add_error("from_height", f"Above the node's tip ({self.tip}).")
        if end is not None and end > self.tip:
            self.add_error("to_height", f"Above the node's tip ({self.tip}).")
        if start is not None and end is not None and start > end:
            self.add_error("to_height", "Must be at least the from height.")
        return data


def chain_tip(chain: str) -> int | None:
    """The chain node's block count, None if it does not answer."""
    if chain != Sidechain.BITCOIN:
        return None
    rpc = bitcoin_rpc()
    try:
        return rpc.get_block_count()
    except BitcoinRPCError:
        return None
    finally:
        rpc.close()


@admin.register(ChainCursor)
class ChainCursorAdmin(ReadOnlyAdmin):
    list_display = ["chain", "height", "tip_hash", "updated_at"]
    actions = ["rescan"]

    def has_rescan_permission(self, request) -> bool:
        return request.user.has_perm("sidechains.add_rescanjob")

    def get_urls(self):
        view = self.admin_site.admin_view(self.rescan_view)
        return [
            path("<int:object_id>/rescan/", view, name="sidechains_chaincursor_rescan"),
            *super().get_urls(),
        ]

    @admin.action(description="Rescan from height…", permissions=["rescan"])
    def rescan(self, request, queryset):
        cursor = queryset.first()
        return HttpResponseRedirect(
            reverse("admin:sidechains_chaincursor_rescan", args=[cursor.pk])
        )

    def rescan_view(self, request, object_id: int):
        cursor = self.get_object(request, str(object_id))
        if cursor is None or not self.has_view_permission(request, cursor):
            raise PermissionDenied
        if not self.has_rescan_permission(request):
            raise PermissionDenied
        tip = chain_tip(cursor.chain)
        form = RescanForm(request.POST or None, tip=tip)
        if request.method == "POST" and form.is_valid():
            try:
                job = rescan_enqueue(cursor=cursor, user=request.user, **form.cleaned_data)
            except RescanError as e:
                form.add_error(None, str(e))
            else:
                url = reverse("admin:sidechains_rescanjob_change", args=[job.pk])
                return HttpResponseRedirect(url)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "cursor": cursor,
            "form": form,
            "tip": tip,
            "title": f"Rescan {cursor.get_chain_display()}",
        }
        return render(request, "admin/sidechains/chaincursor/rescan.html", context)


def rescan_enqueue(
    *, cursor: ChainCursor, user, from_height: int, to_height: int | None, reason: str
):
    """Record the rescan (and who asked, and why) and hand it to a worker once committed."""
    with transaction.atomic():
        job = rescan_start(
            chain=cursor.chain, from_height=from_height, to_height=to_height, user=user
        )
        audit_record(
            actor=user,
            action="rescan.started",
            target=audit_target(job),
            reason=reason,
            details={"chain": job.chain, "from": job.from_height, "to": job.to_height},
        )
        transaction.on_commit(lambda: bitcoin_rescan.delay(job.pk))
    return job


@admin.register(RescanJob)
class RescanJobAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "chain", "from_height", "to_height", "status", "progress_bar"]
    list_filter = ["status", "chain"]
    fields = readonly_fields = [
        "chain",
        "from_height",
        "to_height",
        "progress_bar",
        "status",
        "next_height",
        "deposits_found",
        "error",
        "created_by",
        "created_at",
        "finished_at",
    ]

    def get_urls(self):
        view = self.admin_site.admin_view(self.progress_view)
        return [
            path("<int:object_id>/progress/", view, name="sidechains_rescanjob_progress"),
            *super().get_urls(),
        ]

    @admin.display(description="progress")
    def progress_bar(self, obj: RescanJob) -> str:
        return render_progress(obj)

    def progress_view(self, request, object_id: int):
        job = self.get_object(request, str(object_id))
        if job is None or not self.has_view_permission(request, job):
            raise PermissionDenied
        return HttpResponse(render_progress(job))


def render_progress(job: RescanJob) -> str:
    """The bar; while the job runs it asks for itself again every 2 s (htmx)."""
    running = job.status in (RescanJob.Status.PENDING, RescanJob.Status.RUNNING)
    poll = reverse("admin:sidechains_rescanjob_progress", args=[job.pk]) if running else ""
    return format_html(
        '<span class="rescan-progress" data-testid="rescan-progress"{}>'
        '<progress value="{}" max="100">{} %</progress> {} % · {}</span>',
        format_html(' hx-get="{}" hx-trigger="every 2s" hx-swap="outerHTML"', poll) if poll else "",
        job.progress,
        job.progress,
        job.progress,
        job.get_status_display(),
    )


# Withdrawals (docs/withdrawals.md).


class TxInputInline(ReadOnlyInline):
    model = TxInput
    fields = readonly_fields = ["index", "coin"]


class TxSignatureInline(ReadOnlyInline):
    model = TxSignature
    fields = readonly_fields = ["input_index", "son", "public_key", "created_at"]


class SignerRefusalInline(ReadOnlyInline):
    model = SignerRefusal
    fields = readonly_fields = ["son", "reasons", "in_words", "created_at"]

    @admin.display(description="in words")
    def in_words(self, obj: SignerRefusal) -> str:
        return reasons_words(obj.reasons)


@admin.register(SidechainTransaction)
class SidechainTransactionAdmin(LargeTableAdmin, ReadOnlyAdmin):
    list_display = [
        "pk",
        "txid",
        "status",
        "fee_display",
        "feerate_display",
        "created_at",
        "broadcast_at",
        "refused_by",
    ]
    list_filter = ["status", "chain", "created_at"]
    search_fields = ["txid"]
    list_defer = ("unsigned_tx", "signed_tx", "change_witness_script")
    exclude = ["unsigned_tx", "signed_tx", "change_witness_script"]
    inlines = [TxInputInline, TxSignatureInline, SignerRefusalInline]
    actions = ["abandon"]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("refusals__son")

    def has_abandon_permission(self, request) -> bool:
        return request.user.has_perm("sidechains.abandon_sidechaintransaction")

    @admin.action(
        description="Abandon the selected rotation transactions stranded awaiting signatures",
        permissions=["abandon"],
    )
    def abandon(self, request, queryset):
        from sidechains.bitcoin.rotation_abandon import AbandonError, rotation_tx_abandon

        reason = reason_or_page(
            self,
            request,
            queryset,
            title="Abandon rotation transactions",
            warning="Only a rotation's test spend or sweep awaiting signatures that was never "
            "sent. It fails, its coins are released, and the next beat builds the step again.",
        )
        if not isinstance(reason, str):
            return reason
        abandoned = 0
        for stx in queryset:
            try:
                rotation_tx_abandon(sidechain_tx=stx, by=request.user, reason=reason)
            except AbandonError as e:
                self.message_user(request, str(e), messages.ERROR)
            else:
                abandoned += 1
        self.message_user(request, f"{abandoned} transaction(s) abandoned.", messages.SUCCESS)
        return None

    @admin.display(description="fee", ordering="fee")
    def fee_display(self, obj: SidechainTransaction) -> str:
        return btc(obj.fee)

    @admin.display(description="fee rate", ordering="feerate")
    def feerate_display(self, obj: SidechainTransaction) -> str:
        return f"{obj.feerate} sat/vB"

    @admin.display(description="refused by")
    def refused_by(self, obj: SidechainTransaction) -> str:
        """Each refusing SON with its reasons in words: "son-3 (federation changing)"."""
        return "; ".join(
            f"{r.son.name} ({reasons_words(r.reasons)})"
            for r in sorted(obj.refusals.all(), key=lambda r: r.son.name)
        )


class WithdrawalEventInline(ReadOnlyInline):
    model = WithdrawalEvent
    fields = readonly_fields = ["created_at", "old_status", "new_status", "note"]


@admin.register(Withdrawal)
class WithdrawalAdmin(LargeTableAdmin, ReadOnlyAdmin):
    list_display = [
        "pk",
        "user",
        "amount_display",
        "fee_share_display",
        "address",
        "status",
        "created_at",
    ]
    list_filter = ["status", "chain", "created_at"]
    search_fields = ["user__username", "address", "sidechain_tx__txid"]
    list_select_related = ["user"]
    inlines = [WithdrawalEventInline]
    actions = ["fail_and_return"]

    @admin.display(description="amount", ordering="amount")
    def amount_display(self, obj: Withdrawal) -> str:
        """What it pays before its fee share, in the sidechain's asset."""
        return btc(obj.amount) if obj.chain == Sidechain.BITCOIN else sidechain_amount(obj)

    @admin.display(description="fee share", ordering="fee_share")
    def fee_share_display(self, obj: Withdrawal) -> str:
        return btc(obj.fee_share) if obj.chain == Sidechain.BITCOIN else "–"

    def has_resolve_withdrawal_permission(self, request) -> bool:
        return request.user.has_perm("sidechains.resolve_withdrawal")

    @admin.action(
        description="Fail the selected requested or held withdrawals (return the escrow)",
        permissions=["resolve_withdrawal"],
    )
    def fail_and_return(self, request, queryset):
        from sidechains.bitcoin.withdrawals.errors import WithdrawalError
        from sidechains.bitcoin.withdrawals.requests import withdrawal_fail

        reason = reason_or_page(
            self,
            request,
            queryset,
            title="Fail withdrawals",
            warning="Only requested or held withdrawals (not in a transaction) can fail; "
            "their escrow goes back to their users, who see the reason.",
        )
        if not isinstance(reason, str):
            return reason
        failed = 0
        for withdrawal in queryset:
            try:
                withdrawal_fail(withdrawal=withdrawal, reason=reason, by=request.user)
            except WithdrawalError as e:
                self.message_user(request, str(e), messages.ERROR)
            else:
                failed += 1
        self.message_user(request, f"{failed} withdrawal(s) failed.", messages.SUCCESS)
        return None


@admin.register(Coin)
class CoinAdmin(ReadOnlyAdmin):
    list_display = ["txid", "vout", "amount_display", "kind", "status", "reserved_by", "spent_by"]
    list_filter = ["status", "kind", "chain"]
    search_fields = ["=txid"]
    exclude = ["witness_script"]

    @admin.display(description="amount", ordering="amount")
    def amount_display(self, obj: Coin) -> str:
        return btc(obj.amount)


@admin.register(ReservesCheck)
class ReservesCheckAdmin(ReadOnlyAdmin):
    list_display = [
        "checked_at",
        "chain",
        "height",
        "reserves",
        "liabilities",
        "margin",
        "fee_pool",
        "unexplained",
    ]
    list_filter = ["chain"]
    date_hierarchy = "checked_at"


@admin.register(CircuitBreaker)
class CircuitBreakerAdmin(ReadOnlyAdmin):
    list_display = ["chain", "tripped", "tripped_at", "reason", "resumed_at", "resumed_by"]
    actions = ["resume"]

    def has_resume_permission(self, request) -> bool:
        return request.user.has_perm("sidechains.resume_circuitbreaker")

    @admin.action(
        description="Resume batches (the shortfall is understood)", permissions=["resume"]
    )
    def resume(self, request, queryset):
        reason = reason_or_page(
            self,
            request,
            queryset,
            title="Resume batches",
            warning="New withdrawal batches start again on these chains. The shortfall of the "
            "last reserves check is accepted: only a larger one trips the breaker again.",
        )
        if not isinstance(reason, str):
            return reason
        for breaker in queryset:
            try:
                breaker_resume(chain=breaker.chain, user=request.user, reason=reason)
            except BreakerError as e:
                self.message_user(request, str(e), messages.ERROR)
            else:
                self.message_user(request, f"{breaker.chain}: batches resume.", messages.SUCCESS)
        return None
