"""Constructors for rotation tests: son-4 registered as an administrator does, federation wallet
coins on bcoin, what is left on chain, and the SONs' signers, in process (signer_for) or as real
`python -m signer serve` processes configured and changed with the signer's own commands."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

from bitcoin.core import CBlock, CTransaction, b2lx
from django.conf import settings as django_settings

from chains.bitcoin.federation import p2wsh_script_pubkey
from sidechains.bitcoin import rotation
from sidechains.bitcoin.withdrawals.tracker import withdrawals_track
from sidechains.models import Coin, SidechainTransaction
from sons import services as son_services
from sons.models import SON, FederationVersion, SONPublicKey, SONStatistics
from tests import fixtures
from tests.sidechains.test_withdrawals_signers import ROOT, SignerProcess, _signer_env, wait_for
from tests.sidechains.withdrawal_helpers import Signer

STX = SidechainTransaction.Status
COIN = 100_000
EVERY = "0.5"  # heartbeat and poll interval of the real signers, in seconds


def register_son_4(public_keys: dict[str, str]) -> tuple[SON, str]:
    """What an administrator does: a SON with the public keys its operator sent."""
    son = SON.objects.create(name="son-4", owner=fixtures.make_user("operator_son_4"))
    for sidechain, public in public_keys.items():
        SONPublicKey.objects.create(son=son, sidechain=sidechain, public_key=public)
        SONStatistics.objects.create(son=son, sidechain=sidechain)
    token = son_services.son_issue_token(
        son=son, by=None, reason="test", via=son_services.TokenIssuer.COMMAND
    )
    SON.objects.filter(pk=son.pk).update(status=SON.Status.ACTIVE)
    son.refresh_from_db()
    return son, token


def signer_for(son, token, tmp_path, timelock, *, keys, private=None, accepted=()) -> Signer:
    """An in-process signer of `son` whose configuration has the current `keys` and the
    `accepted` versions; the SON's record says so, as its heartbeats would."""
    signer = Signer(son, token, tmp_path, timelock)
    signer.config = replace(
        signer.config,
        federation_keys=tuple(bytes.fromhex(k) for k in keys),
        private_key=private or signer.config.private_key,
        accepted_federations=tuple(tuple(bytes.fromhex(k) for k in v) for v in accepted),
    )
    # What the signer's heartbeats report (sons/api: SON.accepted_federations).
    SON.objects.filter(pk=son.pk).update(accepted_federations=signer.config.version_fingerprints)
    return signer


def wallet_coins(chain, script: bytes, count: int) -> list[Coin]:
    """`count` coins of COIN sat under the script, in one transaction, mined."""
    spk = p2wsh_script_pubkey(script)
    tx = chain.send([(spk, COIN)] * count)
    chain.mine(1)
    prev = CTransaction(tx.vin, tx.vout, tx.nLockTime, tx.nVersion).serialize()
    return [
        Coin.objects.create(
            txid=b2lx(tx.GetTxid()),
            vout=i,
            amount=COIN,
            witness_script=script,
            prev_tx=prev,
            kind=Coin.Kind.CHANGE,
        )
        for i in range(count)
    ]


def son_3_outputs_unspent(chain, from_height: int, scripts: set[bytes]) -> list[str]:
    """Every output paying one of `scripts` in the blocks since `from_height` that the node
    still shows unspent (gettxout, mempool included)."""
    rpc, left = chain.rpc, []
    for height in range(from_height, rpc.get_block_count() + 1):
        block = CBlock.deserialize(rpc.get_block_raw(rpc.get_block_hash(height)))
        for tx in block.vtx:
            for vout, out in enumerate(tx.vout):
                if bytes(out.scriptPubKey) not in scripts:
                    continue
                txid = b2lx(tx.GetTxid())
                if rpc.get_tx_out(txid, vout, include_mempool=True) is not None:
                    left.append(f"{txid}:{vout}")
    return left


def payments_to(chain, from_height: int, spk: bytes) -> list[int]:
    """The amounts of every output paying `spk` in the blocks since `from_height`."""
    rpc, paid = chain.rpc, []
    for height in range(from_height, rpc.get_block_count() + 1):
        block = CBlock.deserialize(rpc.get_block_raw(rpc.get_block_hash(height)))
        paid += [o.nValue for tx in block.vtx for o in tx.vout if bytes(o.scriptPubKey) == spk]
    return paid


# Real signer processes


def cli(*args: str) -> str:
    """`python -m signer ...` as an operator runs it; its standard output."""
    done = subprocess.run(
        [sys.executable, "-m", "signer", *args],
        cwd=ROOT,
        env=_signer_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def signer_process(
    live_server, tmp_path: Path, name: str, token: str, keys_file: Path, federation_keys, timelock
) -> SignerProcess:
    """`signer serve` for SON `name` with its key file and a configuration whose current
    federation is `federation_keys`; not started."""
    folder = tmp_path / name
    folder.mkdir(exist_ok=True)
    (folder / "token").write_text(token + "\n")
    config = {
        "network": django_settings.BITCOIN_NETWORK,
        "federation_keys": list(federation_keys),
        "deposit_timelock": timelock,
        "max_feerate": 50,
        "max_fee": 10_000_000,
        "daily_cap": 100 * 100_000_000,
        "journal": "journal.sqlite",
    }
    (folder / "signer.json").write_text(json.dumps(config))
    args = ["serve", "--key", keys_file, "--config", folder / "signer.json"]
    args += ["--portal-url", live_server.url, "--token-file", folder / "token"]
    args += ["--heartbeat-every", EVERY, "--poll-every", EVERY]
    return SignerProcess(
        name, list(map(str, args)), folder / "signer.log", folder / "journal.sqlite"
    )


def config_path(process: SignerProcess) -> Path:
    return Path(process.args[process.args.index("--config") + 1])


def accept(process: SignerProcess, version: FederationVersion) -> str:
    """What the operator does: `signer federation add`, then a restart."""
    add = ["federation", "add", "--config", str(config_path(process)), "--keys", *version.keys]
    out = cli(*add, "--threshold", str(version.threshold))
    process.stop()
    process.start()
    return out


def reports(name: str, version: FederationVersion) -> bool:
    """The SON's signer reported the version accepted in its last heartbeat."""
    return SON.objects.get(name=name).accepts(version)


def signed() -> bool:
    return not SidechainTransaction.objects.filter(status=STX.AWAITING_SIGNATURES).exists()


def drive(chain, processes, until, timeout=90.0) -> None:
    """Beat's part: take the next step, let the signers sign it, mine, settle; until `until()`."""
    deadline = time.monotonic() + timeout
    while not until():
        assert time.monotonic() < deadline, "the rotation did not finish"
        rotation.rotation_process(rpc=chain.rpc)
        wait_for(signed, processes, 30.0, "the signatures")
        chain.mine(2)
        withdrawals_track(rpc=chain.rpc)
