"""The benchmark's world: its database, a bcoin node, a federation of three SONs with coins,
users with withdraw addresses, and the SONs' signers."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import psycopg

from tests.bitcoin_node import RPC_USER, BcoinNode

COIN_AMOUNT = 100_000_000  # each federation coin: 1 BTC


def fresh_database(name: str) -> None:
    """Drop and create the benchmark's database (on the maintenance database `postgres`)."""
    params = {
        "host": os.environ.get("DATABASE_HOST", "127.0.0.1"),
        "port": os.environ.get("DATABASE_PORT", "5432"),
        "user": os.environ.get("DATABASE_USER", "sonportal"),
        "password": os.environ.get("DATABASE_PASSWORD") or None,
    }
    with psycopg.connect(dbname="postgres", autocommit=True, **params) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def configure_django(node: BcoinNode, database: str) -> None:
    os.environ.update(
        DATABASE_NAME=database,
        BITCOIN_RPC_URL=node.url,
        BITCOIN_RPC_USER=RPC_USER,
        BITCOIN_RPC_PASSWORD=node.api_key,
        BITCOIN_RPC_TIMEOUT="60",
        ALLOWED_HOSTS="testserver,localhost,127.0.0.1",  # the signers' in-process API client
        LOG_LEVEL="WARNING",
    )
    os.environ.pop("BITCOIN_RPC_PASSWORD_FILE", None)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


class World:
    """Three SONs and their signers, a rate, coins on chain; users made on demand."""

    def __init__(self, node: BcoinNode) -> None:
        from tests.sidechains.deposit_helpers import make_federation, set_btc_rate
        from tests.sidechains.regtest_wallet import RegtestWallet

        self.node = node
        self.rpc = node.rpc(timeout=60)
        self.wallet = RegtestWallet.funded(self.rpc)
        set_btc_rate("1")  # 1 pBTC base unit = 1 sat
        self.sons = make_federation(3)
        self.users = 0
        self.signers = self._signers()

    def _signers(self) -> list:
        from sons.models import SON
        from sons.services import TokenIssuer, son_issue_token
        from tests.sidechains.withdrawal_helpers import Signer

        journal_dir = Path(tempfile.mkdtemp(prefix="bench-signers-"))
        timelock = self._timelock()
        sons = SON.objects.filter(pk__in=[s.pk for s in self.sons]).order_by("pk")
        return [
            Signer(son, self._token(son, son_issue_token, TokenIssuer), journal_dir, timelock)
            for son in sons
        ]

    @staticmethod
    def _token(son, issue, issuer) -> str:
        return issue(son=son, by=None, reason="benchmark", via=issuer.COMMAND)

    def _timelock(self) -> int:
        from tests.sidechains.deposit_helpers import make_bitcoin_mapping
        from tests.sidechains.withdrawal_helpers import credit

        user = self._user()
        credit(user, 1, "timelock")
        return make_bitcoin_mapping(user).deposit_timelock

    def _user(self):
        from tests.fixtures import User, enrol_totp

        self.users += 1
        user = User.objects.create_user(username=f"bench_{self.users}", password=None)
        enrol_totp(user)  # withdrawal_request refuses a person without a second factor
        return user

    def fund(self, count: int) -> None:
        """`count` coins of COIN_AMOUNT paying P2WSH(the federation's wallet script), mined and
        recorded as available coins (as the change of a settled withdrawal becomes one)."""
        from bitcoin.core import CTransaction

        from chains.bitcoin.federation import federation_witness_script, p2wsh_script_pubkey
        from sidechains.bitcoin.withdrawals.fees import federation_keys
        from sidechains.models import Coin

        script = federation_witness_script(federation_keys())
        spk = p2wsh_script_pubkey(script)
        for start in range(0, count, 40):  # a 50 BTC coinbase pays 40 coins
            n = min(40, count - start)
            tx = self.wallet.send([(spk, COIN_AMOUNT)] * n)
            txid = tx.GetTxid()[::-1].hex()
            # the coins' previous transaction, as the signers verify it: without its witness
            prev_tx = CTransaction(tx.vin, tx.vout, tx.nLockTime, tx.nVersion).serialize()
            Coin.objects.bulk_create(
                Coin(
                    txid=txid,
                    vout=v,
                    amount=COIN_AMOUNT,
                    witness_script=script,
                    prev_tx=prev_tx,
                    kind="change",
                )
                for v in range(n)
            )
        self.wallet.mine(1)

    def users_with_funds(self, count: int, amount: int, label: str) -> list:
        """`count` users, each with a mapping (its own P2WPKH) and `amount` pBTC."""
        from tests.sidechains.deposit_helpers import make_bitcoin_mapping
        from tests.sidechains.withdrawal_helpers import credit

        users = [self._user() for _ in range(count)]
        for user in users:
            make_bitcoin_mapping(user)
            credit(user, amount, label)
        return users

    @staticmethod
    def request(users: list, amount: int, label: str) -> list:
        from sidechains.bitcoin.withdrawals.requests import withdrawal_request

        return [withdrawal_request(user=u, amount_pegged=amount, request_id=label) for u in users]

    def sign(self) -> int:
        """Each signer in turn fetches what awaits it and answers through the API; the answer
        that completes a transaction broadcasts it. Returns the answers posted."""
        posted = 0
        for signer in self.signers:
            for response in signer.sign_all():
                if response.status_code != 200:
                    raise RuntimeError(f"signing answer refused: {response.content!r}")
                posted += 1
        return posted
