"""The portal's connection to its Bitcoin node, from the settings (docs/bitcoin-node.md)."""

from django.conf import settings

from chains.bitcoin.rpc import BitcoinRPC


def bitcoin_rpc(*, timeout: float | None = None) -> BitcoinRPC:
    """A client of BITCOIN_RPC_URL; `timeout` caps the configured one (pages wait less)."""
    configured = settings.BITCOIN_RPC_TIMEOUT
    return BitcoinRPC(
        settings.BITCOIN_RPC_URL,
        user=settings.BITCOIN_RPC_USER,
        password=settings.BITCOIN_RPC_PASSWORD,
        timeout=configured if timeout is None else min(timeout, configured),
    )
