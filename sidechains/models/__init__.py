from sidechains.models.deposits import Alert, ChainCursor, Deposit, DepositEvent, Refund, RescanJob
from sidechains.models.hive import (
    HiveDeposit,
    HiveDepositEvent,
    HivePayout,
    HiveSignature,
    HiveTransaction,
)
from sidechains.models.mempool import MempoolDeposit
from sidechains.models.reserves import (
    CircuitBreaker,
    FederationBalance,
    ReservesCheck,
    ReservesCoin,
)
from sidechains.models.rotation import RotationStep
from sidechains.models.transactions import (
    Coin,
    CoinEvent,
    SidechainTransaction,
    SidechainTransactionEvent,
    SignerRefusal,
    TxInput,
    TxSignature,
    UnspendableKind,
)
from sidechains.models.withdrawals import Withdrawal, WithdrawalEvent

__all__ = [
    "Alert",
    "ChainCursor",
    "CircuitBreaker",
    "Coin",
    "CoinEvent",
    "Deposit",
    "DepositEvent",
    "FederationBalance",
    "HiveDeposit",
    "MempoolDeposit",
    "HiveDepositEvent",
    "HivePayout",
    "HiveSignature",
    "HiveTransaction",
    "Refund",
    "ReservesCheck",
    "ReservesCoin",
    "RescanJob",
    "RotationStep",
    "SidechainTransaction",
    "SidechainTransactionEvent",
    "SignerRefusal",
    "TxInput",
    "TxSignature",
    "UnspendableKind",
    "Withdrawal",
    "WithdrawalEvent",
]
