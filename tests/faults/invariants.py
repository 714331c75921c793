"""The money invariants of a fault run, checked from outside the code under test: the chain as
the node returns it (blocks parsed with python-bitcoinlib, UTXOs by gettxout) and the database
read with plain SQL, never through the portal's services.

Each check returns a list of violations (strings); a run passes when all are empty.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass

from bitcoin.core import CBlock, CTransaction, b2lx
from django.db import connection

from chains.bitcoin.rpc import BitcoinRPC


@dataclass(frozen=True)
class SentDeposit:
    """A payment the run's wallet sent to a user's deposit script."""

    txid: str
    vout: int
    amount: int
    user_id: int


def _rows(sql: str, params: list | None = None) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params or [])
        return cursor.fetchall()


Spends = dict[tuple[str, int], list[CTransaction]]


def chain_outputs(rpc: BitcoinRPC, start: int) -> tuple[dict[bytes, list[int]], set[str], Spends]:
    """Every output of the best chain above `start`, by script (values), every txid, and the
    transactions spending each outpoint (one, on a valid chain)."""
    outputs: dict[bytes, list[int]] = defaultdict(list)
    txids: set[str] = set()
    spends: Spends = defaultdict(list)
    for height in range(start + 1, rpc.get_block_count() + 1):
        block = CBlock.deserialize(rpc.get_block_raw(rpc.get_block_hash(height)))
        for tx in block.vtx:
            txids.add(b2lx(tx.GetTxid()))
            for out in tx.vout:
                outputs[bytes(out.scriptPubKey)].append(out.nValue)
            for vin in tx.vin[1:] if tx.is_coinbase() else tx.vin:
                spends[(b2lx(vin.prevout.hash), vin.prevout.n)].append(tx)
    return outputs, txids, spends


def deposits_credited_once(
    sent: list[SentDeposit], mined: set[str], rpc: BitcoinRPC | None = None
) -> list[str]:
    """Every mined deposit is recorded once and credited once, to its user, for its amount
    less its sweep fee, which went to the fee pool (the rate is 1 in the run); nothing is
    credited that was not paid."""
    problems = []
    recorded = {
        (txid, vout): (pk, amount, user, status)
        for pk, txid, vout, amount, user, status in _rows(
            "SELECT id, txid, vout, amount, user_id, status FROM sidechains_deposit"
        )
    }
    credits = Counter(
        ref for (ref,) in _rows("SELECT reference FROM ledger_entry WHERE reason = 'deposit'")
    )
    booked = dict(
        _rows(
            "SELECT reference, sum(amount) FROM ledger_entry"
            " WHERE reason IN ('deposit', 'deposit_fee') GROUP BY reference"
        )
    )
    for deposit in sent:
        if deposit.txid not in mined:
            continue  # lost with a killed node's mempool: never paid
        row = recorded.get((deposit.txid, deposit.vout))
        if row is None:
            problems.append(
                f"deposit {deposit.txid}:{deposit.vout} mined, never recorded "
                f"({unrecorded_evidence(rpc, deposit) if rpc else 'no node to ask'})"
            )
            continue
        pk, amount, user, status = row
        if status in ("refund_pending", "refunded"):
            continue  # not to be credited: deposits_refunded_once checks it
        if (amount, user) != (deposit.amount, deposit.user_id):
            problems.append(f"deposit {pk} recorded as {amount} sat for user {user}")
        if status != "credited" or credits[f"deposit:{pk}"] != 1:
            problems.append(f"deposit {pk}: {status}, {credits[f'deposit:{pk}']} credit(s)")
        elif booked.get(f"deposit:{pk}") != amount:
            total = booked.get(f"deposit:{pk}")
            problems.append(f"deposit {pk}: {amount} sat, credit and sweep fee {total}")
    paid = {(d.txid, d.vout) for d in sent if d.txid in mined}
    for outpoint, (pk, *_rest) in recorded.items():
        if outpoint not in paid:
            problems.append(f"deposit {pk} recorded for an outpoint nobody paid: {outpoint}")
    problems += [f"{ref} credited {n} times" for ref, n in credits.items() if n > 1]
    return problems


def withdrawals_paid_once(outputs: dict[bytes, list[int]], scripts: dict[int, bytes]) -> list[str]:
    """Each user's withdraw script received, on the best chain, exactly the payouts of their
    settled withdrawals and of their refunded deposits' confirmed refunds: one output each (a
    second payment of any of them is an extra output)."""
    problems = []
    settled: dict[int, list[int]] = defaultdict(list)
    for user, payout in _rows(
        "SELECT user_id, amount - fee_share FROM sidechains_withdrawal WHERE status = 'settled'"
        " UNION ALL SELECT d.user_id, r.amount FROM sidechains_refund r"
        " JOIN sidechains_deposit d ON d.id = r.deposit_id"
        " JOIN sidechains_sidechaintransaction t ON t.id = r.sidechain_tx_id"
        " WHERE d.status = 'refunded' AND t.status = 'confirmed'"
    ):
        settled[user].append(payout)
    for user, script in scripts.items():
        received = sorted(outputs.get(script, []))
        if received != sorted(settled[user]):
            problems.append(f"user {user}: paid {received} on chain, settled {settled[user]}")
    return problems


def withdrawals_not_lost() -> list[str]:
    """Every withdrawal ended: settled (escrow burned once) or failed (escrow returned once)."""
    problems = []
    entries = Counter(
        (reason, ref)
        for reason, ref in _rows(
            "SELECT reason, reference FROM ledger_entry WHERE reference LIKE 'withdrawal:%%'"
        )
    )
    for pk, status in _rows("SELECT id, status FROM sidechains_withdrawal"):
        ref = f"withdrawal:{pk}"
        if entries[("withdrawal_escrow", ref)] != 1:
            problems.append(f"withdrawal {pk}: {entries[('withdrawal_escrow', ref)]} escrows")
        ending = {"settled": "withdrawal_burn", "failed": "withdrawal_return"}.get(status)
        if ending is None:
            problems.append(f"withdrawal {pk} still {status}")
        elif entries[(ending, ref)] != 1:
            problems.append(f"withdrawal {pk} {status} with {entries[(ending, ref)]} {ending}")
    return problems


def ledger_balanced() -> list[str]:
    """Per asset the balances sum to zero; each balance equals its entries; none negative but
    issuance's and the fee pool's (it pays the sweeps' fees whatever it holds)."""
    problems = [
        f"{asset}: balances sum to {total}"
        for asset, total in _rows("SELECT asset, sum(amount) FROM ledger_balance GROUP BY asset")
        if total != 0
    ]
    mismatched = _rows(
        """SELECT b.account_id, b.asset, b.amount, coalesce(c.s, 0) - coalesce(d.s, 0)
           FROM ledger_balance b
           LEFT JOIN (SELECT destination_id a, asset, sum(amount) s FROM ledger_entry
                      GROUP BY 1, 2) c ON c.a = b.account_id AND c.asset = b.asset
           LEFT JOIN (SELECT source_id a, asset, sum(amount) s FROM ledger_entry
                      GROUP BY 1, 2) d ON d.a = b.account_id AND d.asset = b.asset
           WHERE b.amount <> coalesce(c.s, 0) - coalesce(d.s, 0)"""
    )
    problems += [f"account {a} {asset}: balance {b}, entries {e}" for a, asset, b, e in mismatched]
    # The fee pool pays a network fee above the quote whatever its balance (ledger/models.py,
    # may_go_negative): below zero it is a shortfall, which the reserves check covers.
    negative = _rows(
        "SELECT b.account_id, b.amount FROM ledger_balance b JOIN ledger_ledgeraccount a"
        " ON a.id = b.account_id WHERE b.amount < 0 AND a.system NOT IN ('issuance', 'fee-pool')"
    )
    return problems + [f"account {a} negative: {amount}" for a, amount in negative]


def sweep_fees(mined: set[str]) -> int:
    """Satoshi the mined sweeps paid in fees, read from the transactions."""
    rows = _rows(
        "SELECT txid, fee FROM sidechains_sidechaintransaction"
        " WHERE kind = 'sweep' AND status IN ('broadcast', 'confirmed')"
    )
    return sum(fee for txid, fee in rows if txid in mined)


def sweep_fees_in_the_ledger(fees: int) -> list[str]:
    """The fee pool paid exactly the mined sweeps' fees (the rate is 1 in the run), once each:
    what left the reserves is in the books."""
    (paid,) = _rows(
        "SELECT coalesce(sum(amount), 0) FROM ledger_entry WHERE reason = 'federation_fee'"
    )[0]
    return [] if paid == fees else [f"fee pool paid {paid} for sweeps whose fees were {fees}"]


def unrecorded_evidence(rpc: BitcoinRPC, deposit: SentDeposit) -> str:
    """What a mined deposit the listener never recorded looked like, for the report: its
    block, the listener's cursor and the hash it kept at that height, and whether its script
    is a registered deposit script."""
    try:
        info = rpc.call("getrawtransaction", deposit.txid, 1)
        block_hash = info.get("blockhash", "")
        height = rpc.call("getblock", block_hash, 1)["height"] if block_hash else None
        script = bytes.fromhex(info["vout"][deposit.vout]["scriptPubKey"]["hex"])
    except Exception as e:  # the report must still print
        return f"node: {e}"
    (registered,) = _rows(
        "SELECT count(*) FROM mappings_sidechainaddress WHERE deposit_script_pubkey = %s",
        [script],
    )[0]
    cursor = _rows("SELECT height, recent FROM sidechains_chaincursor WHERE chain = 'bitcoin'")
    kept = ""
    if cursor:
        recent = cursor[0][1] if isinstance(cursor[0][1], list) else json.loads(cursor[0][1])
        kept = next((h for at, h in recent if at == height), "not kept")
    return (
        f"in block {height} {block_hash}; listener at {cursor[0][0] if cursor else None}, "
        f"kept {kept} at that height; {registered} mapping(s) with its script"
    )


def fee_pool_funded() -> tuple[list[str], int, int]:
    """The deposits' sweep fees paid for the sweeps: the fee pool is not below zero. Returns
    (problems, what the deposits paid it, its balance)."""
    (received,) = _rows(
        "SELECT coalesce(sum(amount), 0) FROM ledger_entry WHERE reason = 'deposit_fee'"
    )[0]
    (balance,) = _rows(
        "SELECT coalesce(sum(b.amount), 0) FROM ledger_balance b JOIN ledger_ledgeraccount a"
        " ON a.id = b.account_id WHERE a.system = 'fee-pool' AND b.asset = 'pBTC'"
    )[0]
    problems = [] if balance >= 0 else [f"fee pool {balance}: the sweep fees did not cover"]
    return problems, received, balance


def reserves_cover_supply(rpc: BitcoinRPC) -> tuple[list[str], int, int]:
    """The federation's coins still unspent on chain (gettxout) hold at least the pBTC supply
    (the rate is 1 in the run: a satoshi per base unit): every balance but issuance's, the fee
    pool's included, which is below zero by what it paid for sweeps. Returns (problems,
    reserves, supply)."""
    reserves = 0
    for txid, vout in _rows("SELECT txid, vout FROM sidechains_coin"):
        out = rpc.call("gettxout", txid, vout, False)
        if out:
            reserves += round(float(out["value"]) * 100_000_000)
    (supply,) = _rows(
        "SELECT coalesce(-sum(b.amount), 0) FROM ledger_balance b JOIN ledger_ledgeraccount a"
        " ON a.id = b.account_id WHERE a.system = 'issuance' AND b.asset = 'pBTC'"
    )[0]
    problems = [] if reserves >= supply else [f"reserves {reserves} < supply {supply}"]
    return problems, reserves, supply


def coins_reserved_once() -> list[str]:
    """No coin is an input of two transaction families that did not fail (a fee bump is the
    same family: it spends the same coins)."""
    rows = _rows(
        """WITH RECURSIVE family(id, root) AS (
               SELECT id, id FROM sidechains_sidechaintransaction WHERE fee_bump_of_id IS NULL
               UNION ALL
               SELECT t.id, f.root FROM sidechains_sidechaintransaction t
               JOIN family f ON t.fee_bump_of_id = f.id)
           SELECT i.coin_id, count(DISTINCT f.root)
           FROM sidechains_txinput i
           JOIN sidechains_sidechaintransaction t ON t.id = i.sidechain_tx_id
           JOIN family f ON f.id = t.id
           WHERE t.status <> 'failed'
           GROUP BY i.coin_id HAVING count(DISTINCT f.root) > 1"""
    )
    return [f"coin {coin} reserved by {n} transaction families" for coin, n in rows]


def deposits_swept_by_deadline(
    rpc: BitcoinRPC, deadline: int, mined: set[str]
) -> tuple[list[str], int]:
    """Every credited deposit whose sweep deadline (`deadline` blocks after its block) has
    passed is spent on chain (gettxout, mempool excluded): a sweep or a withdrawal batch took
    it before its depositor could reclaim it. Every sweep recorded confirmed is in a block.
    Returns (problems, sweeps mined)."""
    tip = rpc.get_block_count()
    problems = [
        f"deposit {pk} ({txid}:{vout}) unspent at {tip}, past its deadline {height + deadline}"
        for pk, txid, vout, height in _rows(
            "SELECT id, txid, vout, block_height FROM sidechains_deposit WHERE status = 'credited'"
        )
        if height + deadline < tip and rpc.call("gettxout", txid, vout, False)
    ]
    sweeps = {
        txid
        for (txid,) in _rows(
            "SELECT txid FROM sidechains_sidechaintransaction"
            " WHERE kind = 'sweep' AND status = 'confirmed'"
        )
    }
    problems += [f"sweep {txid} recorded confirmed, not in a block" for txid in sweeps - mined]
    return problems, len(sweeps & mined)


def deposits_refunded_once(
    sent: list[SentDeposit], spends: Spends, scripts: dict[int, bytes]
) -> tuple[list[str], int, int]:
    """Every deposit that went refund_pending ended refunded, never credited, by one confirmed
    refund whose transaction, the only spend of the deposit's outpoint on chain, pays the
    depositor's withdraw script the amount the wallet sent less the fee the witnesses approved.
    Returns (problems, deposits that went refund_pending, refunds confirmed on chain)."""
    paid = {(d.txid, d.vout): d for d in sent}
    rows = _rows(
        """SELECT d.id, d.txid, d.vout, d.status,
                  (SELECT count(*) FROM ledger_entry e
                   WHERE e.reason = 'deposit' AND e.reference = 'deposit:' || d.id)
           FROM sidechains_deposit d
           WHERE d.status IN ('refund_pending', 'refunded') OR EXISTS (
               SELECT 1 FROM sidechains_depositevent e
               WHERE e.deposit_id = d.id AND e.new_status = 'refund_pending')"""
    )
    refunds: dict[int, list[tuple]] = defaultdict(list)
    for deposit_id, *refund in _rows(
        """SELECT r.deposit_id, t.txid, p.payload FROM sidechains_refund r
           JOIN sidechains_sidechaintransaction t ON t.id = r.sidechain_tx_id
           LEFT JOIN proposals_proposal p ON p.id = r.proposal_id
           WHERE t.status = 'confirmed'"""
    ):
        refunds[deposit_id].append(refund)
    problems, confirmed = [], 0
    for pk, txid, vout, status, credits in rows:
        found = [f"{status}"] if status != "refunded" else []
        found += [f"credited {credits} time(s)"] if credits else []
        if len(refunds[pk]) != 1:
            found.append(f"{len(refunds[pk])} confirmed refunds")
        else:
            found += _refund_on_chain(paid.get((txid, vout)), spends, scripts, *refunds[pk][0])
            confirmed += not found
        problems += [f"refund of deposit {pk}: {problem}" for problem in found]
    return problems, len(rows), confirmed


def _refund_on_chain(
    deposit: SentDeposit | None, spends: Spends, scripts: dict[int, bytes], txid: str, payload
) -> list[str]:
    """What is wrong with one refund on chain, checked against what the wallet sent."""
    if deposit is None:
        return ["refunds an outpoint the run never paid"]
    spent_by = spends.get((deposit.txid, deposit.vout), [])
    if [b2lx(tx.GetTxid()) for tx in spent_by] != [txid]:
        return [f"outpoint spent on chain by {[b2lx(t.GetTxid()) for t in spent_by]}, not {txid}"]
    payload = json.loads(payload) if isinstance(payload, str) else payload  # a json column
    if not payload or payload["amount"] != deposit.amount:
        return [f"approved payload {payload} is not the {deposit.amount} sat sent"]
    expected = deposit.amount - payload["fee"]
    pays = [o.nValue for o in spent_by[0].vout if bytes(o.scriptPubKey) == scripts[deposit.user_id]]
    if pays != [expected]:
        return [f"{txid} pays the withdraw script {pays}, not [{expected}] (deposit less fee)"]
    return []
