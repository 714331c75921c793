"""Constructors for withdrawal tests: credited users, federation coins on a real bcoin node, and
the SONs' real signers (signer.signing.sign_request, in process, with each SON's key)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import coincurve
from bitcoin.core import CTransaction, b2lx
from django.conf import settings
from django.urls import reverse
from rest_framework.test import APIClient

from chains.bitcoin.federation import federation_witness_script, p2wsh_script_pubkey
from ledger.models import Entry, LedgerAccount
from ledger.services import ledger_account_for, ledger_transfer, system_account
from mappings.models import SidechainAddress
from mappings.services import mapping_set_bitcoin
from rates.assets import Asset
from sidechains.bitcoin.deposits import deposits_process
from sidechains.bitcoin.listener import listener_scan
from sidechains.models import Coin, Deposit
from signer.journal import Journal
from signer.policy import SignerConfig
from signer.signing import sign_request
from sons.models import SON, Sidechain
from tests import fixtures
from tests.mappings.helpers import regtest_p2wpkh
from tests.sidechains.deposit_helpers import set_btc_rate


def federation_of_three() -> list[tuple[SON, str]]:
    """son-1..3 with their API tokens."""
    return [fixtures.make_son(f"son-{i}") for i in (1, 2, 3)]


def mapping_with_key(user, key: coincurve.PrivateKey) -> SidechainAddress:
    """The BTC rate at 1 and the user's Bitcoin mapping whose deposit key is `key`: deposits to
    it are credited, and the user can reclaim them alone after the timelock (set
    BITCOIN_DEPOSIT_TIMELOCK before)."""
    set_btc_rate("1")
    mapping, _ = mapping_set_bitcoin(
        user=user,
        deposit_public_key=key.public_key.format().hex(),
        withdraw_address=regtest_p2wpkh(),
    )
    return mapping


def credit(user, amount: int, label: str = "test") -> None:
    """pBTC for a user straight from issuance (the deposit flow has its own tests)."""
    ledger_transfer(
        source=system_account(LedgerAccount.System.ISSUANCE),
        destination=ledger_account_for(user),
        asset=Asset.PBTC,
        amount=amount,
        reason=Entry.Reason.DEPOSIT,
        reference=f"deposit:{label}:{user.pk}",
    )


def federation_coin(wallet, amount: int = 2_000_000) -> Coin:
    """A coin of the federation of SONs son-1..3, paid on the wallet's node and mined (coin
    selection checks the node's UTXO set), not seen by the listener."""
    keys = [fixtures.son_key(f"son-{i}").public_key.format() for i in (1, 2, 3)]
    script = federation_witness_script(keys)
    tx = wallet.send([(p2wsh_script_pubkey(script), amount)])
    wallet.mine(1)
    txid = b2lx(tx.GetTxid())
    prev_tx = CTransaction(tx.vin, tx.vout, tx.nLockTime, tx.nVersion).serialize()
    return Coin.objects.create(
        txid=txid,
        vout=0,
        amount=amount,
        witness_script=script,
        prev_tx=prev_tx,
        kind=Coin.Kind.DEPOSIT,
    )


def deposit_on_chain(wallet, mapping, amount: int) -> Coin:
    """A real deposit to the mapping's script, seen by the listener and credited; its coin."""
    listener_scan(rpc=wallet.rpc, max_blocks=10)
    wallet.send([(bytes(mapping.deposit_script_pubkey), amount)])
    for _ in range(6):
        wallet.mine(1)
        listener_scan(rpc=wallet.rpc, max_blocks=10)
        deposits_process(rpc=wallet.rpc)
        deposit = Deposit.objects.filter(mapping=mapping).latest("pk")
        if deposit.status != Deposit.Status.DETECTED:
            break
    assert deposit.status == Deposit.Status.CREDITED, deposit.note
    return Coin.objects.get(deposit=deposit)


class Signer:
    """A SON's signer: its own configuration and journal, answering through the API."""

    def __init__(self, son: SON, token: str, journal_dir: Path, timelock: int) -> None:
        keys = SON.objects.federation().values_list("name", flat=True)
        self.son = son
        self.config = SignerConfig(
            network=settings.BITCOIN_NETWORK,
            federation_keys=tuple(fixtures.son_key(name).public_key.format() for name in keys),
            private_key=fixtures.son_key(son.name),
            deposit_timelock=timelock,
            max_feerate=50,
            max_fee=10_000_000,
            daily_cap=100 * 100_000_000,
        )
        self.journal = Journal(journal_dir / f"{son.name}.sqlite")
        self.client = APIClient()
        self.client.credentials(HTTP_AUTHORIZATION=f"Token {token}")

    def pending(self) -> list[dict]:
        response = self.client.get(reverse("api-son-signing-requests"))
        assert response.status_code == 200, response.content
        return response.json()["results"]

    def answer(self, request: dict) -> dict:
        return sign_request(request, self.config, self.journal, datetime.now(UTC))

    def post(self, request_id: str, answer: dict):
        url = reverse("api-son-signing-answer", args=[int(request_id)])
        return self.client.post(url, answer, format="json")

    def sign_all(self) -> list:
        return [self.post(request["id"], self.answer(request)) for request in self.pending()]


def make_signers(tmp_path: Path, sons_with_tokens, timelock: int) -> list[Signer]:
    return [Signer(son, token, tmp_path, timelock) for son, token in sons_with_tokens]


def bitcoin_sons() -> list[SON]:
    return list(SON.objects.filter(public_keys__sidechain=Sidechain.BITCOIN))
