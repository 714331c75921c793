"""Signers consent to federation versions from their own configuration (docs/rotation.md): they
move coins to a new version's wallet only when their operator accepted it, keep signing coins of
the versions they accept, and refuse a request naming keys their configuration does not list."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chains.bitcoin.addresses import segwit_address
from chains.bitcoin.federation import (
    deposit_witness_script,
    federation_witness_script,
    p2wsh_script_pubkey,
)
from chains.hive.transactions import public_key_text
from signer import cli
from signer import config as config_file
from signer.hive import public_key_bytes as hive_public_key_bytes
from signer.policy import evaluate
from sons.models import FederationVersion
from tests.signer.withdrawals import (
    CAROL,
    NOW,
    SON_KEYS,
    TIMELOCK,
    USER_KEY,
    Draft,
    History,
    Output,
    coin,
    config,
    pays,
    pubkey,
    secret,
)

SON_4 = pubkey(secret("son-4"))
NEW_KEYS = sorted([*SON_KEYS[:2], SON_4])  # son-3 leaves, son-4 joins
NEW_WALLET = federation_witness_script(NEW_KEYS)
NEW_WALLET_SPK = p2wsh_script_pubkey(NEW_WALLET)
OLD_COINS = (
    coin("old wallet utxo", 10_000_000),
    coin("old deposit", 5_000_000, deposit_witness_script(SON_KEYS, USER_KEY, TIMELOCK)),
)
# The move: every coin of version 1 to version 2's wallet, naming version 2.
MOVE = Draft(
    id="rotation-sweep-1",
    coins=OLD_COINS,
    withdrawals=(),
    fee=3_000,
    outputs=(Output(NEW_WALLET_SPK, 15_000_000 - 3_000),),
    extra={"federation": {"keys": [k.hex() for k in NEW_KEYS], "threshold": 2}},
)


def accepting(son: int = 0):
    return config(son, accepted_federations=(tuple(NEW_KEYS),))


def verdict(draft: Draft, signer_config) -> tuple[str, ...]:
    return evaluate(draft.request(), signer_config, History(), NOW).reasons


def test_it_moves_coins_to_a_version_its_operator_accepted():
    assert verdict(MOVE, accepting()) == ()


def test_it_refuses_to_move_coins_to_a_version_not_in_its_configuration():
    assert verdict(MOVE, config()) == ("VERSION_NOT_ACCEPTED", "FOREIGN_CHANGE", "NO_WALLET_OUTPUT")


def test_it_refuses_the_move_unnamed_too():
    unnamed = MOVE.but(extra={})
    assert verdict(unnamed, config()) == ("FOREIGN_CHANGE", "NO_WALLET_OUTPUT")
    assert verdict(unnamed, accepting()) == ()


@pytest.mark.parametrize(
    "named",
    [
        {"keys": [k.hex() for k in NEW_KEYS], "threshold": 3},  # another threshold
        {"keys": [k.hex() for k in [*NEW_KEYS, pubkey(secret("mallory"))]], "threshold": 3},
        {"keys": [NEW_KEYS[0].hex(), NEW_KEYS[0].hex(), NEW_KEYS[1].hex()], "threshold": 2},
    ],
)
def test_it_refuses_a_request_naming_keys_its_configuration_does_not_list(named):
    assert "VERSION_NOT_ACCEPTED" in verdict(MOVE.but(extra={"federation": named}), accepting())


def test_a_malformed_federation_is_malformed():
    bad = MOVE.but(extra={"federation": {"keys": ["zz"], "threshold": 1}})
    assert verdict(bad, accepting()) == ("MALFORMED",)


def test_it_keeps_signing_withdrawals_from_the_older_versions_coins():
    """After the switch its configuration's current version is the new one; the old one, still
    holding coins, is accepted: withdrawals spend them, change to the new wallet."""
    after = config(0, federation_keys=tuple(NEW_KEYS), accepted_federations=(tuple(SON_KEYS),))
    draft = Draft(coins=OLD_COINS, withdrawals=(("w-1", CAROL, 4_000_000),), fee=4_000)
    change = 15_000_000 - 4_000_000 - 4_000
    paid = draft.but(outputs=(pays(CAROL, 4_000_000), Output(NEW_WALLET_SPK, change)))
    assert verdict(paid, after) == ()
    without = config(0, federation_keys=tuple(NEW_KEYS))  # the operator dropped version 1
    assert "NOT_FEDERATION_SCRIPT" in verdict(paid, without)


def test_a_withdrawal_cannot_pay_an_accepted_versions_wallet_as_a_payout():
    address = segwit_address(0, NEW_WALLET_SPK[2:], "regtest")
    steal = Draft(coins=OLD_COINS, withdrawals=(("w-1", address, 4_000_000),), fee=4_000)
    assert "BAD_DESTINATION" in verdict(steal, accepting())


# The operator's command


def _config_file(tmp_path: Path) -> Path:
    path = tmp_path / "signer.json"
    document = {
        "network": "regtest",
        "federation_keys": [k.hex() for k in SON_KEYS],
        "deposit_timelock": TIMELOCK,
        "max_feerate": 50,
        "max_fee": 100_000,
        "daily_cap": 10**9,
        "journal": "journal.sqlite",
    }
    path.write_text(json.dumps(document))
    return path


def test_federation_add_accepts_a_version_and_prints_the_portals_fingerprint(tmp_path, capsys):
    path = _config_file(tmp_path)
    keys = [k.hex() for k in NEW_KEYS]
    args = ["federation", "add", "--config", str(path), "--keys", *keys, "--threshold", "2"]

    assert cli.main(args, {}) == 0
    printed = capsys.readouterr().out
    portal = FederationVersion(fingerprint=FederationVersion.fingerprint_of(keys))
    assert printed == f"accepted: federation 2 of 3, fingerprint {portal.short_fingerprint()}\n"
    loaded = config_file.load(path, config().private_key)
    assert loaded.signer.accepted_federations == (tuple(NEW_KEYS),)
    assert evaluate(MOVE.request(), loaded.signer, History(), NOW).ok

    assert cli.main(args, {}) == 0  # again: nothing changes
    assert capsys.readouterr().out.startswith("already accepted: ")
    assert len(json.loads(path.read_text())["accepted_federations"]) == 1


@pytest.mark.parametrize(
    ("keys", "threshold", "message"),
    [
        ([k.hex() for k in NEW_KEYS], 3, "a federation of 3 keys has threshold 2, not 3"),
        ([NEW_KEYS[0].hex(), "02" + "00" * 32], 2, "not a compressed secp256k1 public key"),
        ([NEW_KEYS[0].hex(), "zz"], 2, "not hex"),
    ],
)
def test_federation_add_refuses_what_no_script_would_be(tmp_path, capsys, keys, threshold, message):
    path = _config_file(tmp_path)
    before = path.read_text()
    args = ["federation", "add", "--config", str(path), "--keys", *keys]
    assert cli.main([*args, "--threshold", str(threshold)], {}) == cli.EXIT_USAGE
    assert message in capsys.readouterr().err
    assert path.read_text() == before


HIVE_KEYS = sorted(public_key_text(pubkey(secret(f"hive-{n}")).hex()) for n in (1, 2, 4))


def _hive_config_file(tmp_path: Path) -> Path:
    path = _config_file(tmp_path)
    document = json.loads(path.read_text())
    document["hive"] = {
        "chain_id": "ab" * 32,
        "federation_account": "son-federation",
        "daily_caps": {"HIVE": 10**6},
        "journal": "hive-journal.sqlite",
    }
    path.write_text(json.dumps(document))
    return path


def test_federation_add_for_hive_accepts_stm_keys_with_the_portals_fingerprint(tmp_path, capsys):
    path = _hive_config_file(tmp_path)
    args = ["federation", "add", "--sidechain", "hive", "--config", str(path)]
    args += ["--keys", *reversed(HIVE_KEYS), "--threshold", "2"]

    assert cli.main(args, {}) == 0
    hex_keys = [hive_public_key_bytes(key).hex() for key in HIVE_KEYS]
    portal = FederationVersion(fingerprint=FederationVersion.fingerprint_of(hex_keys))
    printed = capsys.readouterr().out
    assert (
        printed == f"accepted: Hive federation 2 of 3, fingerprint {portal.short_fingerprint()}\n"
    )
    loaded = config_file.load(path, config().private_key)
    assert loaded.hive is not None
    assert loaded.hive.accepted_federations == ((tuple(HIVE_KEYS), 2),)
    assert loaded.signer.accepted_federations == ()  # the Bitcoin list is untouched

    assert cli.main(args, {}) == 0  # again: nothing changes
    assert capsys.readouterr().out.startswith("already accepted: Hive federation")
    assert len(json.loads(path.read_text())["hive"]["accepted_federations"]) == 1


@pytest.mark.parametrize(
    ("keys", "threshold", "message"),
    [
        (HIVE_KEYS, 3, "a federation of 3 keys has threshold 2, not 3"),
        ([HIVE_KEYS[0], HIVE_KEYS[1][:-1] + "x"], 2, "is not an STM key"),
        ([k.hex() for k in NEW_KEYS], 2, "is not an STM key"),
        ([HIVE_KEYS[0], HIVE_KEYS[0]], 1, "a key is listed twice"),
    ],
)
def test_federation_add_for_hive_refuses_what_no_authority_would_be(
    tmp_path, capsys, keys, threshold, message
):
    path = _hive_config_file(tmp_path)
    before = path.read_text()
    args = ["federation", "add", "--sidechain", "hive", "--config", str(path), "--keys", *keys]
    assert cli.main([*args, "--threshold", str(threshold)], {}) == cli.EXIT_USAGE
    assert message in capsys.readouterr().err
    assert path.read_text() == before


def test_federation_add_for_hive_needs_a_hive_section(tmp_path, capsys):
    path = _config_file(tmp_path)
    before = path.read_text()
    args = ["federation", "add", "--sidechain", "hive", "--config", str(path)]
    assert cli.main([*args, "--keys", *HIVE_KEYS, "--threshold", "2"], {}) == cli.EXIT_USAGE
    assert "no hive section" in capsys.readouterr().err
    assert path.read_text() == before
