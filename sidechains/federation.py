"""The federation's current keys, as the portal derives scripts from them."""

from sidechains.models import SON, Sidechain, SONPublicKey


def federation_public_keys(sidechain: str = Sidechain.BITCOIN) -> list[str]:
    """Public keys of the SONs in the federation on this sidechain, sorted."""
    keys = SONPublicKey.objects.filter(
        sidechain=sidechain, son__status__in=SON.FEDERATION_STATUSES
    ).values_list("public_key", flat=True)
    return sorted(keys)
