"""Plain constructors for deposit tests: a federation, a user's Bitcoin mapping, deposit rows on
real bcoin blocks, made-up transactions for rows that need one, and a rate."""

import secrets
from decimal import Decimal

from bitcoin.core import CMutableTransaction, CMutableTxIn, COutPoint, CTxOut, b2lx
from bitcoin.core.script import CScript
from django.conf import settings
from django.utils import timezone

from chains.bitcoin.addresses import validate_address
from chains.bitcoin.rpc import BitcoinRPC
from mappings.models import SidechainAddress
from mappings.services import mapping_set_bitcoin
from rates.assets import Pair
from rates.conversion import to_pegged
from rates.services import rate_set
from sidechains.bitcoin.deposits import confirmations_required
from sidechains.bitcoin.sweeps import deposit_sweep_fee
from sidechains.models import Deposit
from sons.models import SON, Sidechain
from tests import fixtures
from tests.mappings.helpers import pubkey_hex, regtest_p2wpkh

# Where test blocks' coinbases go: nobody's deposit script.
MINER = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080"


def make_federation(n: int = 3) -> list[SON]:
    return [fixtures.make_son(f"son-{i}")[0] for i in range(1, n + 1)]


def make_bitcoin_mapping(user) -> SidechainAddress:
    mapping, _ = mapping_set_bitcoin(
        user=user, deposit_public_key=pubkey_hex(), withdraw_address=regtest_p2wpkh()
    )
    return mapping


def set_btc_rate(rate: str) -> Decimal:
    admin = fixtures.User.objects.filter(username="rates_admin").first()
    admin = admin or fixtures.make_user("rates_admin", staff=True)
    return rate_set(pair=Pair.BTC_PBTC, rate=Decimal(rate), set_by=admin).rate


def sweep_fee(amount: int = 10**8) -> int:
    """The sweep fee a deposit of `amount` pays at the floor rate, the rate bcoin's regtest
    gives (it never has an estimate) and the one used without a node."""
    return deposit_sweep_fee(amount, feerate=settings.BITCOIN_WITHDRAWAL_FEERATE_FLOOR)


def credit_for(amount: int, rate: str = "1") -> int:
    """pBTC a deposit of `amount` satoshi credits at `rate`: the deposit less its sweep fee."""
    return to_pegged(amount - sweep_fee(amount), Decimal(rate), Pair.BTC_PBTC)


def made_up_tx(script_pubkey: bytes, amount: int, vout: int = 0) -> tuple[str, bytes]:
    """(txid, bytes without witnesses) of a transaction, never sent, whose output `vout` pays
    `amount` to `script_pubkey`: the previous transaction of a coin that exists only in the
    database (python-bitcoinlib, not the portal's code). Earlier outputs pay the miner."""
    miner = validate_address(MINER, "regtest").script_pubkey
    outputs = [CTxOut(1_000, CScript(miner)) for _ in range(vout)]
    tx = CMutableTransaction(
        [CMutableTxIn(COutPoint(secrets.token_bytes(32), 0))],
        [*outputs, CTxOut(amount, CScript(script_pubkey))],
        nVersion=2,
    )
    return b2lx(tx.GetTxid()), tx.serialize()


def mine(rpc: BitcoinRPC, n: int = 1) -> list[str]:
    return rpc.generate_to_address(n, MINER)


def make_deposit(
    mapping: SidechainAddress,
    rpc: BitcoinRPC,
    *,
    amount: int = 1_000_000,
    status: str = Deposit.Status.DETECTED,
    **fields,
) -> Deposit:
    """A deposit in a freshly mined block (the listener's part is tested with the listener), with
    a made-up transaction paying the mapping's deposit script."""
    [block_hash] = mine(rpc)
    txid, raw_tx = made_up_tx(bytes(mapping.deposit_script_pubkey), amount)
    values = {
        "chain": Sidechain.BITCOIN,
        "txid": txid,
        "raw_tx": raw_tx,
        "vout": 0,
        "amount": amount,
        "mapping": mapping,
        "user": mapping.user,
        "block_hash": block_hash,
        "block_height": rpc.get_block_count(),
        "status": status,
        "confirmations_required": confirmations_required(amount),
        "detected_at": timezone.now(),
    }
    return Deposit.objects.create(**{**values, **fields})
