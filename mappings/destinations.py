"""Where the portal may pay a user's coins: a withdraw address, checked with today's rules.

An address is refused when nobody, or anybody, could spend what it is paid (validate_address),
and when the federation controls its script (federation_scripts): a payout there moves coins
from the federation to itself, out of the user's reach, and a payout to a deposit address is
even credited again as a federation. Registering an address, requesting a withdrawal and batching
one all check with the same function, withdraw_destination(). See docs/mappings.md.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

from chains.bitcoin import addresses, federation
from chains.bitcoin.addresses import AddressError, BitcoinAddress
from mappings.models import SidechainAddress
from sons.federation import federation_wallet_scripts
from sons.models import Sidechain, SONPublicKey


@dataclass(frozen=True)
class FederationScripts:
    """The output scripts the federation controls, besides the deposit scripts (which are
    looked up in the database one at a time: there is one per mapping)."""

    wallets: frozenset[bytes]
    son_keys: frozenset[bytes]

    def owner(self, script_pubkey: bytes) -> str | None:
        """What of the federation's the script is, for a message; None if it is not its."""
        if SidechainAddress.objects.filter(deposit_script_pubkey=script_pubkey).exists():
            return "a deposit address of the portal"
        if script_pubkey in self.wallets:
            return "an address of the federation's wallet"
        if script_pubkey in self.son_keys:
            return "an address of a SON's key"
        return None


def federation_scripts() -> FederationScripts:
    """A snapshot of the federation's wallet scripts (of every key set it has had: the ones
    its change coins pay) and of every registered SON key's own addresses."""
    wallets = federation_wallet_scripts(Sidechain.BITCOIN)
    keys = SONPublicKey.objects.filter(sidechain=Sidechain.BITCOIN)
    return FederationScripts(
        wallets=frozenset(spk for w in wallets for spk in federation.script_hash_script_pubkeys(w)),
        son_keys=frozenset(spk for key in keys for spk in _key_scripts(key.public_key)),
    )


def withdraw_destination(
    text: str, *, scripts: FederationScripts | None = None, own_deposit: bytes | None = None
) -> BitcoinAddress:
    """The address if the portal may pay to it; AddressError with a message for the user.

    `scripts` lets a caller checking many addresses take one snapshot; `own_deposit` is a
    deposit script being registered with the address (not in the database yet)."""
    address = addresses.validate_address(text, settings.BITCOIN_NETWORK)
    if own_deposit is not None and address.script_pubkey == own_deposit:
        owner: str | None = "the deposit address you are registering"
    else:
        owner = (scripts or federation_scripts()).owner(address.script_pubkey)
    if owner is not None:
        raise AddressError(
            f"This is {owner}: the federation controls it, so coins paid there would never "
            "reach you. Use an address of your own wallet."
        )
    return address


def _key_scripts(public_key: str) -> list[bytes]:
    try:
        return addresses.key_script_pubkeys(bytes.fromhex(public_key))
    except ValueError:  # not a compressed key: it spends no standard script
        return []
