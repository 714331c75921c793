"""Signers' refusals in words, for the people who wait on them (the withdrawal page, the admin).

The codes are the signer's (docs/signer.md); the portal does not import the signer, so the
words are kept here. A code not listed reads "other reason (<code>)": a newer signer's code is
still shown, never dropped.
"""

from collections.abc import Iterable

FEDERATION_CHANGING = "federation changing"
_WORDS = {
    # the coins or the change belong to a key set the signer's configuration does not list
    "NOT_FEDERATION_SCRIPT": FEDERATION_CHANGING,
    "FOREIGN_CHANGE": FEDERATION_CHANGING,
    "KEY_NOT_IN_SCRIPT": FEDERATION_CHANGING,
    "WRONG_THRESHOLD": FEDERATION_CHANGING,
    "TIMELOCK_MISMATCH": FEDERATION_CHANGING,
    "VERSION_NOT_ACCEPTED": FEDERATION_CHANGING,
    "FEE_TOO_HIGH": "fee above their limit",
    "FEERATE_TOO_HIGH": "fee above their limit",
    "NEGATIVE_FEE": "fee above their limit",
    "OVER_DAILY_CAP": "their daily limit reached",
    "BAD_DESTINATION": "destination refused",
    "DUPLICATE_PAYOUT": "already paid",
    "CONFLICTING_SPEND": "coin already spent elsewhere",
    "NOT_FINAL": "transaction not final",
    "MALFORMED": "request not understood",
    "UNKNOWN_VERSION": "request not understood",
    "WRONG_CHAIN": "request not understood",
    "WRONG_NETWORK": "request not understood",
    "INTERNAL_ERROR": "signer error",
}
_CHECKS_FAILED = "transaction failed their checks"
_CHECKS = {
    "DUPLICATE_INPUT",
    "INPUT_MISMATCH",
    "PREV_TX_MISSING",
    "PREV_TX_MISMATCH",
    "PREV_OUTPUT_MISSING",
    "INPUT_SCRIPT_MISMATCH",
    "PAYOUT_MISMATCH",
    "EXTRA_OUTPUT",
    "NO_WALLET_OUTPUT",
    "DUST_OUTPUT",
    "ANCHOR_DUPLICATE",
    "ANCHOR_MALFORMED",
    "ANCHOR_NOT_ZERO",
    "REQUEST_ID_REUSED",
    "TX_CONTENT_MISMATCH",
    "NOT_A_FEE_BUMP",
    "OUTPOINT_MISMATCH",
}


def reason_words(code: str) -> str:
    if code in _CHECKS:
        return _CHECKS_FAILED
    return _WORDS.get(code, f"other reason ({code})")


def reasons_words(codes: Iterable[str]) -> str:
    """The distinct words for these codes, in the order first met: "fee above their limit"."""
    return ", ".join(dict.fromkeys(reason_words(code) for code in codes))


def refusals_summary(refusals: list[list[str]]) -> str:
    """One line for the refusals of a transaction (each a SON's list of codes): "waiting: 2
    SONs refused: federation changing"; "" without refusals."""
    if not refusals:
        return ""
    sons = f"{len(refusals)} SON{'s' if len(refusals) != 1 else ''}"
    return f"waiting: {sons} refused: {reasons_words(c for codes in refusals for c in codes)}"
