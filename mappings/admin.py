from django.contrib import admin

from core.admin_actions import ReadOnlyAdmin
from mappings.models import AddressClaim, HiveOwnershipClaim, SidechainAddress


@admin.register(SidechainAddress)
class SidechainAddressAdmin(ReadOnlyAdmin):
    """Mappings change only through the user's pages and the API, which keep the history."""

    list_display = ["user", "sidechain", "identifier", "withdraw_address", "valid_from", "expires"]
    list_filter = ["sidechain", ("expires", admin.EmptyFieldListFilter)]
    search_fields = [
        "user__username",
        "deposit_address",
        "deposit_public_key",
        "withdraw_address",
        "hive_account",
    ]
    exclude = ["deposit_witness_script", "deposit_script_pubkey"]


@admin.register(AddressClaim)
class AddressClaimAdmin(admin.ModelAdmin):
    list_display = ["kind", "value", "user", "created_at"]
    list_filter = ["kind"]
    search_fields = ["value", "user__username"]

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(HiveOwnershipClaim)
class HiveOwnershipClaimAdmin(ReadOnlyAdmin):
    """Claims change only through the user's proof (mappings/hive_ownership.py)."""

    list_display = ["user", "hive_account", "created_at", "expires_at", "verified_at", "method"]
    list_filter = ["method", ("verified_at", admin.EmptyFieldListFilter)]
    search_fields = ["=hive_account", "user__username"]
    exclude = ["challenge"]
