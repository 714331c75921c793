"""What the withdrawal pipeline refuses; in every case nothing was changed."""


class WithdrawalError(Exception):
    """A withdrawal the portal refuses, or a step its state does not allow."""


class WithdrawalAddressError(WithdrawalError):
    """The user has no withdraw address the portal may pay."""


class SignatureRejected(WithdrawalError):
    """A signer's answer the portal refuses; nothing of it was stored."""


class SidechainTxNotFound(WithdrawalError):
    pass


class SidechainTxClosed(WithdrawalError):
    """An answer for a transaction that no longer awaits signatures; nothing was stored."""


class SecondFactorRequired(WithdrawalError):
    """The user has no second factor: withdrawing needs one (docs/accounts.md)."""
