from django.contrib import admin

from core.admin_actions import ReadOnlyAdmin
from core.admin_scale import LargeTableAdmin
from ledger.models import Balance, Entry
from rates.assets import amount_format


@admin.register(Entry)
class EntryAdmin(LargeTableAdmin, ReadOnlyAdmin):
    list_display = ["created_at", "source", "destination", "amount_display", "reason", "reference"]
    list_filter = ["asset", "reason"]
    search_fields = ["reference", "source__user__username", "destination__user__username"]
    list_select_related = ["source", "destination"]

    @admin.display(description="amount", ordering="amount")
    def amount_display(self, obj: Entry) -> str:
        """In the token with its places and unit: "0.20000000 pBTC"."""
        return amount_format(obj.amount, obj.asset)


@admin.register(Balance)
class BalanceAdmin(ReadOnlyAdmin):
    list_display = ["account", "asset", "amount"]
    list_filter = ["asset", "account__system"]
    search_fields = ["account__user__username", "account__system"]
    list_select_related = ["account"]
