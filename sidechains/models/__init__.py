from sidechains.models.deposits import Alert, ChainCursor, Deposit, DepositEvent, RescanJob
from sidechains.models.ledger import Balance, Entry, LedgerAccount
from sidechains.models.sons import (
    SON,
    HeartbeatNonce,
    Sidechain,
    SONPublicKey,
    SONStatistics,
    SONStatusChange,
    hash_token,
)

__all__ = [
    "SON",
    "Alert",
    "Balance",
    "ChainCursor",
    "Deposit",
    "DepositEvent",
    "Entry",
    "HeartbeatNonce",
    "LedgerAccount",
    "RescanJob",
    "SONPublicKey",
    "SONStatistics",
    "SONStatusChange",
    "Sidechain",
    "hash_token",
]
