from sidechains.models.deposits import Alert, ChainCursor, Deposit, DepositEvent, Refund, RescanJob
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
from sidechains.models.withdrawals import (
    Coin,
    SidechainTransaction,
    SignerRefusal,
    TxInput,
    TxSignature,
    Withdrawal,
    WithdrawalEvent,
)

__all__ = [
    "SON",
    "Alert",
    "Balance",
    "ChainCursor",
    "Coin",
    "Deposit",
    "DepositEvent",
    "Entry",
    "HeartbeatNonce",
    "LedgerAccount",
    "Refund",
    "RescanJob",
    "SONPublicKey",
    "SONStatistics",
    "SONStatusChange",
    "Sidechain",
    "SidechainTransaction",
    "SignerRefusal",
    "TxInput",
    "TxSignature",
    "Withdrawal",
    "WithdrawalEvent",
    "hash_token",
]
