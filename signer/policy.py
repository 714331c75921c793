"""The signing policy: may this SON sign this request? Pure functions, no I/O.

evaluate(request, config, history, now) re-derives everything from the transaction bytes, the
previous transactions and the signer's own configuration, and answers a Verdict with stable
reason codes. No amount is taken on trust: a segwit v0 signature commits to its own input's
amount only, so a portal that understated a different input in each of two requests could
combine one valid signature per input into a transaction paying any fee. Each input's amount
and scriptPubKey are read from its previous transaction, which must hash to the outpoint's
txid; the witness script must hash to that scriptPubKey (docs/signing-requests.md).
The journal's checks (already signed, conflicting spends) come after it, in signer.signing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property
from typing import Protocol

import coincurve

from signer import address, destination, request, script
from signer.bitcoin import (
    Tx,
    TxError,
    TxOut,
    estimated_vsize,
    parse_outputs,
    parse_tx,
    txid_of,
)
from signer.request import RequestError, SigningRequest
from signer.script import FederationScript

# Reason codes: stable strings, in the order the checks run (docs/signing-requests.md).
MALFORMED = request.MALFORMED
UNKNOWN_VERSION = request.UNKNOWN_VERSION
WRONG_CHAIN = request.WRONG_CHAIN
WRONG_NETWORK = "WRONG_NETWORK"
DUPLICATE_INPUT = "DUPLICATE_INPUT"
INPUT_MISMATCH = "INPUT_MISMATCH"
PREV_TX_MISSING = "PREV_TX_MISSING"
PREV_TX_MISMATCH = "PREV_TX_MISMATCH"
PREV_OUTPUT_MISSING = "PREV_OUTPUT_MISSING"
INPUT_SCRIPT_MISMATCH = "INPUT_SCRIPT_MISMATCH"
NOT_FINAL = "NOT_FINAL"
NOT_FEDERATION_SCRIPT = script.NOT_FEDERATION_SCRIPT
KEY_NOT_IN_SCRIPT = script.KEY_NOT_IN_SCRIPT
WRONG_THRESHOLD = script.WRONG_THRESHOLD
TIMELOCK_MISMATCH = script.TIMELOCK_MISMATCH
BAD_DESTINATION = destination.BAD_DESTINATION
DUPLICATE_PAYOUT = "DUPLICATE_PAYOUT"
PAYOUT_MISMATCH = "PAYOUT_MISMATCH"
EXTRA_OUTPUT = "EXTRA_OUTPUT"
FOREIGN_CHANGE = "FOREIGN_CHANGE"
VERSION_NOT_ACCEPTED = "VERSION_NOT_ACCEPTED"
NO_WALLET_OUTPUT = "NO_WALLET_OUTPUT"
DUST_OUTPUT = "DUST_OUTPUT"
ANCHOR_DUPLICATE = "ANCHOR_DUPLICATE"
ANCHOR_MALFORMED = "ANCHOR_MALFORMED"
ANCHOR_NOT_ZERO = "ANCHOR_NOT_ZERO"
NEGATIVE_FEE = "NEGATIVE_FEE"
FEE_TOO_HIGH = "FEE_TOO_HIGH"
FEERATE_TOO_HIGH = "FEERATE_TOO_HIGH"
OVER_DAILY_CAP = "OVER_DAILY_CAP"
# From the journal (signer.journal), checked after the policy:
REQUEST_ID_REUSED = "REQUEST_ID_REUSED"
TX_CONTENT_MISMATCH = "TX_CONTENT_MISMATCH"
NOT_A_FEE_BUMP = "NOT_A_FEE_BUMP"
CONFLICTING_SPEND = "CONFLICTING_SPEND"
OUTPOINT_MISMATCH = "OUTPOINT_MISMATCH"
# A bug met a request: refused rather than crash or sign (signer.signing).
INTERNAL_ERROR = "INTERNAL_ERROR"

TX_VERSION = 2
FINAL_SEQUENCE = 0xFFFFFFFD  # and above: no relative lock (BIP68), replaceable or not
CAP_WINDOW = timedelta(hours=24)
DEFAULT_DUST_LIMIT = 546  # the highest dust threshold of standard outputs (P2PKH)
# The one OP_RETURN output a transaction may carry: a liabilities epoch's root, anchored
# (docs/proofs.md, "The anchor"): OP_RETURN, a push of 40 bytes, this prefix, the 32-byte root.
OP_RETURN = 0x6A
ANCHOR_PREFIX = b"SONROOT1"
ANCHOR_SCRIPT_START = bytes([OP_RETURN, len(ANCHOR_PREFIX) + 32]) + ANCHOR_PREFIX
ANCHOR_SCRIPT_LENGTH = len(ANCHOR_SCRIPT_START) + 32


@dataclass(frozen=True)
class Verdict:
    ok: bool
    reasons: tuple[str, ...]

    @classmethod
    def of(cls, reasons: Iterable[str]) -> Verdict:
        unique = tuple(dict.fromkeys(reasons))
        return cls(ok=not unique, reasons=unique)


@dataclass(frozen=True, order=True)
class Payout:
    """One withdrawal as the transaction pays it; identical payouts are the same payout."""

    withdrawal_id: str
    script_pubkey: bytes
    amount: int


class PayoutHistory(Protocol):
    """What the daily cap needs to know of the payouts signed before (signer.journal)."""

    def paid_since(self, since: datetime) -> int:
        """Satoshi of the distinct payouts first recorded (signed or being signed) after
        `since`."""
        ...

    def recorded(self, payouts: Sequence[Payout]) -> set[Payout]:
        """Those of `payouts` recorded before, identically (at any time)."""
        ...


@dataclass(frozen=True)
class SignerConfig:
    """The signer's own view of the federation; nothing in it comes from the portal."""

    network: str
    federation_keys: tuple[bytes, ...]  # every SON's Bitcoin public key, compressed
    private_key: coincurve.PrivateKey = field(repr=False)
    deposit_timelock: int  # T of the users' deposit scripts, in blocks
    max_feerate: int  # sat/vB, against the estimated size of the signed transaction
    max_fee: int  # sat, absolute
    daily_cap: int  # sat paid out to withdrawals within CAP_WINDOW
    dust_limit: int = DEFAULT_DUST_LIMIT
    # Other federation versions the operator accepts (each a key set; its threshold is the
    # rule's): coins under their scripts are signed, and their wallets may receive the change or
    # a sweep, which is how a rotation moves the coins (docs/rotation.md).
    accepted_federations: tuple[tuple[bytes, ...], ...] = ()

    def __post_init__(self) -> None:
        keys = tuple(sorted(bytes(key) for key in self.federation_keys))
        object.__setattr__(self, "federation_keys", keys)
        others = dict.fromkeys(
            tuple(sorted(bytes(key) for key in version)) for version in self.accepted_federations
        )
        others.pop(keys, None)
        object.__setattr__(self, "accepted_federations", tuple(others))
        problem = _config_problem(self)
        if problem:
            raise ValueError(f"invalid signer configuration: {problem}")

    @cached_property
    def own_key(self) -> bytes:
        return self.private_key.public_key.format(compressed=True)

    @cached_property
    def threshold(self) -> int:
        return script.threshold(len(self.federation_keys))

    @cached_property
    def wallet_script(self) -> bytes:
        return script.wallet_script(self.federation_keys)

    @cached_property
    def wallet_script_pubkey(self) -> bytes:
        return script.p2wsh(self.wallet_script)

    @cached_property
    def deposit_template(self) -> tuple[bytes, bytes]:
        """The bytes around the user key in every current deposit script."""
        return script.deposit_template(self.federation_keys, self.deposit_timelock)

    @cached_property
    def versions(self) -> tuple[tuple[bytes, ...], ...]:
        """Every federation version this signer accepts, the current one first."""
        return (self.federation_keys, *self.accepted_federations)

    @cached_property
    def version_fingerprints(self) -> list[str]:
        """What the signer reports to the portal: the versions it accepts."""
        return [script.version_fingerprint(keys) for keys in self.versions]

    @cached_property
    def wallet_script_pubkeys(self) -> frozenset[bytes]:
        """The wallets of every accepted version: where change and sweeps may go."""
        return frozenset(script.p2wsh(script.wallet_script(keys)) for keys in self.versions)

    @cached_property
    def federation_scripts(self) -> frozenset[bytes]:
        """Output scripts of the federations' wallets and keys: never a withdrawal's."""
        return frozenset().union(
            *(
                destination.federation_scripts(keys, script.wallet_script(keys))
                for keys in self.versions
            )
        )


@dataclass(frozen=True)
class Reviewed:
    """A request that passed the policy, with what the policy derived from it."""

    request: SigningRequest
    tx: Tx
    spent: tuple[TxOut, ...]  # per input, the output it spends, from its previous transaction
    scripts: tuple[FederationScript, ...]
    payouts: tuple[Payout, ...]  # sorted
    fee: int
    vsize: int


def evaluate(
    document: object, config: SignerConfig, history: PayoutHistory, now: datetime
) -> Verdict:
    """May this SON sign `document`, by the policy alone? See review()."""
    return review(document, config, history, now)[0]


def review(
    document: object, config: SignerConfig, history: PayoutHistory, now: datetime
) -> tuple[Verdict, Reviewed | None]:
    """The verdict, and on approval what was derived. A request that cannot be read, whose
    transaction cannot be matched to its inputs, or whose inputs' previous outputs cannot be
    established, stops at that step's reasons (_read); past that point every check runs and
    the verdict lists every reason found, in check order."""
    read = _read(document, config)
    if isinstance(read, list):
        return Verdict.of(read), None
    parsed, tx, spent = read
    scripts = _classify_all(parsed, config)
    reasons = _finality_reasons(tx) + [found for found in scripts if isinstance(found, str)]
    reasons += _version_reasons(parsed, config)
    payouts, payout_reasons = _payouts(parsed, config, spent)
    reasons += payout_reasons
    if payouts is not None:
        reasons += _output_reasons(tx, payouts, config)
    fee = sum(out.amount for out in spent) - sum(out.amount for out in tx.outputs)
    checked = [found for found in scripts if isinstance(found, FederationScript)]
    vsize = _vsize(tx, checked, parsed, config) if len(checked) == len(scripts) else None
    reasons += _fee_reasons(fee, vsize, config)
    if payouts is not None:
        reasons += _cap_reasons(payouts, history, now, config)
    verdict = Verdict.of(reasons)
    if not verdict.ok or payouts is None or vsize is None:
        return verdict, None
    payouts = sorted(payouts)
    return verdict, Reviewed(parsed, tx, tuple(spent), tuple(checked), tuple(payouts), fee, vsize)


def _read(
    document: object, config: SignerConfig
) -> tuple[SigningRequest, Tx, list[TxOut]] | list[str]:
    """The request, its transaction and the outputs its inputs spend; or the reasons of the
    first step that failed: the shape, the transaction, its inputs, their previous outputs."""
    try:
        parsed = request.parse(document)
        tx = _transaction(parsed, config)
    except RequestError as exc:
        return [exc.reason]
    reasons = _input_reasons(parsed, tx)
    if reasons:
        return reasons
    spent, reasons = _spent_outputs(parsed)
    return reasons or (parsed, tx, spent)


def _transaction(parsed: SigningRequest, config: SignerConfig) -> Tx:
    if parsed.network != config.network:
        reason = WRONG_NETWORK if parsed.network in address.NETWORKS else MALFORMED
        raise RequestError(reason, f"the signer runs on {config.network}")
    try:
        tx = parse_tx(parsed.tx)
    except TxError as exc:
        raise RequestError(MALFORMED, str(exc)) from None
    if tx.version != TX_VERSION or any(txin.script_sig for txin in tx.inputs):
        raise RequestError(MALFORMED, "not a version 2 transaction of native segwit inputs")
    return tx


def _input_reasons(parsed: SigningRequest, tx: Tx) -> list[str]:
    outpoints = [(txin.txid, txin.vout) for txin in tx.inputs]
    if len(set(outpoints)) != len(outpoints):
        return [DUPLICATE_INPUT]
    if outpoints != [(claim.txid, claim.vout) for claim in parsed.inputs]:
        return [INPUT_MISMATCH]
    return []


def _spent_outputs(parsed: SigningRequest) -> tuple[list[TxOut], list[str]]:
    """Per input, the output it spends, read from its previous transaction; or the reasons
    why that cannot be established. prev_txs holds exactly the inputs' transactions."""
    wanted = dict.fromkeys(claim.txid for claim in parsed.inputs)
    if not set(parsed.prev_txs) <= set(wanted):
        return [], [MALFORMED]  # a transaction no input spends: not what the portal builds
    previous, reasons = {}, []
    for txid in wanted:
        raw = parsed.prev_txs.get(txid)
        if raw is None:
            reasons.append(PREV_TX_MISSING)
        elif txid_of(raw) != txid:
            reasons.append(PREV_TX_MISMATCH)
        else:
            try:
                previous[txid] = parse_outputs(raw)
            except TxError:
                reasons.append(MALFORMED)
    spent = []
    for claim in parsed.inputs:
        outputs = previous.get(claim.txid)
        if outputs is None:
            continue  # its transaction's reason is given already
        if claim.vout >= len(outputs):
            reasons.append(PREV_OUTPUT_MISSING)
        elif outputs[claim.vout].script_pubkey != script.p2wsh(claim.witness_script):
            reasons.append(INPUT_SCRIPT_MISMATCH)
        else:
            spent.append(outputs[claim.vout])
    return spent, list(dict.fromkeys(reasons))


def _finality_reasons(tx: Tx) -> list[str]:
    # A lock time or relative lock would let a signed spend wait, unminable, while the journal
    # keeps its outpoints from being spent any other way.
    if tx.locktime != 0 or any(txin.sequence < FINAL_SEQUENCE for txin in tx.inputs):
        return [NOT_FINAL]
    return []


def _classify_all(parsed: SigningRequest, config: SignerConfig) -> list[FederationScript | str]:
    """Each input's witness script classified; inputs sharing a script share the work."""
    found: dict[bytes, FederationScript | str] = {}
    for claim in parsed.inputs:
        if claim.witness_script not in found:
            found[claim.witness_script] = _classify(claim.witness_script, config)
    return [found[claim.witness_script] for claim in parsed.inputs]


def _classify(witness_script: bytes, config: SignerConfig) -> FederationScript | str:
    """script.classify, with its answer for the current wallet and deposit scripts found by
    comparing bytes with the configuration's own (the same verdict, without re-reading every
    script); anything else goes through classify, which says what is wrong with it."""
    if witness_script == config.wallet_script:
        return FederationScript(config.federation_keys, is_deposit=False)
    user_key = script.deposit_user_key(witness_script, config.deposit_template)
    if user_key is not None and _is_user_key(user_key, config):
        return FederationScript(config.federation_keys, is_deposit=True)
    found = [
        script.classify(
            witness_script,
            federation=keys,
            own_key=config.own_key,
            timelock=config.deposit_timelock,
        )
        for keys in config.versions
    ]
    # a coin of another accepted version (an older one's, while a rotation moves them)
    signable = [f for f in found if isinstance(f, FederationScript)]
    return signable[0] if signable else found[0]


def _version_reasons(parsed: SigningRequest, config: SignerConfig) -> list[str]:
    """A request naming the federation version it moves coins to: one this signer's operator
    accepted, keys and threshold, or VERSION_NOT_ACCEPTED."""
    if parsed.federation is None:
        return []
    keys, threshold = parsed.federation
    accepted = tuple(sorted(keys)) in config.versions and len(set(keys)) == len(keys)
    if not accepted or threshold != script.threshold(len(keys)):
        return [VERSION_NOT_ACCEPTED]
    return []


def _is_user_key(key: bytes, config: SignerConfig) -> bool:
    return key not in config.federation_keys and script.is_compressed_key(key)


def _payouts(
    parsed: SigningRequest, config: SignerConfig, spent: Sequence[TxOut]
) -> tuple[list[Payout] | None, list[str]]:
    """The withdrawals as payouts, or None and the reasons why they cannot be."""
    ids = Counter(withdrawal.id for withdrawal in parsed.withdrawals)
    reasons = [DUPLICATE_PAYOUT] if any(count > 1 for count in ids.values()) else []
    forbidden = _federation_controlled(parsed, config, spent)
    payouts = []
    for withdrawal in parsed.withdrawals:
        try:
            script_pubkey = address.script_pubkey(withdrawal.address, config.network)
        except address.OtherNetworkError:
            reasons.append(WRONG_NETWORK)
        except address.AddressError:
            reasons.append(MALFORMED)
        else:
            if script_pubkey in forbidden or not destination.is_payable(script_pubkey):
                reasons.append(BAD_DESTINATION)
            payouts.append(Payout(withdrawal.id, script_pubkey, withdrawal.amount))
    return (None if reasons else payouts), reasons


def _federation_controlled(
    parsed: SigningRequest, config: SignerConfig, spent: Sequence[TxOut]
) -> frozenset[bytes]:
    """The federation's own scripts and those of every coin this transaction spends. A coin's
    script counts as it is paid (its P2WSH): like the portal, the signer lets a user withdraw to
    a wrapped form of their own deposit script, which they can spend alone after T; refusing it
    here would leave a transaction the portal built in good faith unsigned for good."""
    if not parsed.withdrawals:
        return frozenset()
    return config.federation_scripts | {out.script_pubkey for out in spent}


def _output_reasons(tx: Tx, payouts: list[Payout], config: SignerConfig) -> list[str]:
    """Every withdrawal paid exactly once, at most one change output, to the wallet, nothing
    else. While a withdrawal is not paid, the outputs cannot be told apart: PAYOUT_MISMATCH.
    A request without withdrawals (a sweep of deposit coins) pays the federation's own wallet
    and nothing else: its one output is the wallet's, or NO_WALLET_OUTPUT. Besides, at most one
    OP_RETURN output, an epoch's anchor exactly (_anchor_reasons)."""
    expected = Counter((payout.script_pubkey, payout.amount) for payout in payouts)
    unpaid = expected.copy()
    listed = {payout.script_pubkey for payout in payouts}
    reasons, surplus, change = _anchor_reasons(tx.outputs), [], 0
    for out in tx.outputs:
        if out.script_pubkey[:1] == bytes([OP_RETURN]):
            continue  # an anchor, judged above
        if out.amount < config.dust_limit:
            reasons.append(DUST_OUTPUT)
        key = (out.script_pubkey, out.amount)
        if unpaid[key] > 0:
            unpaid[key] -= 1
        elif out.script_pubkey in config.wallet_script_pubkeys and change == 0:
            change += 1
        elif out.script_pubkey in config.wallet_script_pubkeys or out.script_pubkey in listed:
            surplus.append(EXTRA_OUTPUT)
        else:
            surplus.append(FOREIGN_CHANGE)
    if +unpaid:
        return [PAYOUT_MISMATCH, *reasons]
    if not payouts and change == 0:
        surplus.append(NO_WALLET_OUTPUT)
    return [*surplus, *reasons]


def _anchor_reasons(outputs: Sequence[TxOut]) -> list[str]:
    """At most one OP_RETURN output, and that one exactly an epoch's anchor: the prefix, a
    32-byte root, nothing else in the script, and no value."""
    anchors = [out for out in outputs if out.script_pubkey[:1] == bytes([OP_RETURN])]
    reasons = [ANCHOR_DUPLICATE] if len(anchors) > 1 else []
    for out in anchors:
        script_pubkey = out.script_pubkey
        if len(script_pubkey) != ANCHOR_SCRIPT_LENGTH or not script_pubkey.startswith(
            ANCHOR_SCRIPT_START
        ):
            reasons.append(ANCHOR_MALFORMED)
        if out.amount != 0:
            reasons.append(ANCHOR_NOT_ZERO)
    return reasons


def _vsize(
    tx: Tx, scripts: Sequence[FederationScript], parsed: SigningRequest, config: SignerConfig
) -> int:
    witnesses = [
        (script.threshold(len(found.keys)), found.is_deposit, claim.witness_script)
        for found, claim in zip(scripts, parsed.inputs, strict=True)
    ]
    return estimated_vsize(tx, witnesses)


def _fee_reasons(fee: int, vsize: int | None, config: SignerConfig) -> list[str]:
    if fee < 0:
        return [NEGATIVE_FEE]
    reasons = []
    if fee > config.max_fee:
        reasons.append(FEE_TOO_HIGH)
    if vsize is not None and fee > config.max_feerate * vsize:
        reasons.append(FEERATE_TOO_HIGH)
    return reasons


def _cap_reasons(
    payouts: list[Payout], history: PayoutHistory, now: datetime, config: SignerConfig
) -> list[str]:
    # A payout recorded before is paid once only, whenever that was: a fee bump or a repeated
    # request pays nothing more, and the journal never lets one withdrawal id be paid twice.
    known = history.recorded(payouts)
    new = sum(payout.amount for payout in set(payouts) - known)
    total = history.paid_since(now - CAP_WINDOW) + new
    return [OVER_DAILY_CAP] if total > config.daily_cap else []


def _config_problem(config: SignerConfig) -> str | None:
    keys = config.federation_keys
    if config.network not in address.NETWORKS:
        return f"network must be one of {', '.join(address.NETWORKS)}"
    if not 1 <= len(keys) <= script.MAX_KEYS or len(set(keys)) != len(keys):
        return f"the federation needs 1 to {script.MAX_KEYS} distinct keys"
    if not all(script.is_compressed_key(key) for key in keys):
        return "a federation key is not a compressed secp256k1 public key"
    if config.own_key not in keys:
        return "this signer's own key is not one of the federation keys"
    for other in config.accepted_federations:
        if not 1 <= len(other) <= script.MAX_KEYS or len(set(other)) != len(other):
            return f"an accepted federation needs 1 to {script.MAX_KEYS} distinct keys"
        if not all(script.is_compressed_key(key) for key in other):
            return "a key of an accepted federation is not a compressed secp256k1 public key"
    if not 1 <= config.deposit_timelock <= script.MAX_TIMELOCK:
        return f"the deposit timelock must be 1 to {script.MAX_TIMELOCK} blocks"
    limits = (config.max_feerate, config.max_fee, config.daily_cap, config.dust_limit)
    if not all(isinstance(limit, int) and limit >= 0 for limit in limits):
        return "fee, cap and dust limits must be non-negative integers"
    return None
