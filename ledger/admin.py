from django.contrib import admin

from core.admin_actions import ReadOnlyAdmin
from core.admin_scale import LargeTableAdmin
from ledger.models import Balance, Entry


@admin.register(Entry)
class EntryAdmin(LargeTableAdmin, ReadOnlyAdmin):
    list_display = ["created_at", "source", "destination", "asset", "amount", "reason", "reference"]
    list_filter = ["asset", "reason"]
    search_fields = ["reference", "source__user__username", "destination__user__username"]
    list_select_related = ["source", "destination"]


@admin.register(Balance)
class BalanceAdmin(ReadOnlyAdmin):
    list_display = ["account", "asset", "amount"]
    list_filter = ["asset", "account__system"]
    search_fields = ["account__user__username", "account__system"]
    list_select_related = ["account"]
