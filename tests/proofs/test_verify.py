"""The stand-alone verifier accepts every proof of an epoch of 10,000 users and rejects a
changed amount, a changed sibling, a negative sum, an overflow and a proof for another root."""

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from proofs.verify import MAX_SUM, ProofError, verify
from rates.assets import Asset
from solvency.epochs import epoch_create, epoch_proofs
from tests import fixtures
from tests.solvency.helpers import credit, many_users

ROOT_DIR = Path(__file__).resolve().parents[2]


def _amounts(i: int) -> dict[str, int]:
    """Varied holdings; every 7th user holds no pHIVE, every 5th some pHBD."""
    held = {Asset.PBTC: 1_000 + i * 37}
    if i % 7:
        held[Asset.PHIVE] = 5 * i
    if i % 5 == 0:
        held[Asset.PHBD] = 3 + i
    return held


@pytest.mark.django_db
def test_it_accepts_every_users_proof_in_an_epoch_of_10000_users():
    n = 10_000
    many_users(n, _amounts)
    epoch = epoch_create()
    assert epoch.leaf_count == n
    expected_totals = [
        sum(_amounts(i).get(asset, 0) for i in range(n))
        for asset in (Asset.PBTC, Asset.PHIVE, Asset.PHBD)
    ]
    assert epoch.totals == expected_totals
    seen = set()
    for proof in epoch_proofs(epoch):
        proven = verify(proof, epoch.root)
        assert list(proven.totals.values()) == expected_totals
        seen.add(proven.account)
    assert len(seen) == n


@pytest.fixture
def epoch_and_proof(db):
    names = ("user_carol", "user_dave", "user_erin", "user_frank")
    carol, dave, erin, frank = (fixtures.make_user(n) for n in names)
    credit(carol, Asset.PBTC, 150_000)
    credit(dave, Asset.PBTC, 20_000)
    credit(erin, Asset.PHBD, 9_000)
    credit(frank, Asset.PHIVE, 1)
    epoch = epoch_create()
    proof = next(p for p in epoch_proofs(epoch) if p["leaf"]["account"] == f"user:{carol.pk}")
    assert len(proof["path"]) == 2
    return epoch, proof


def _rejected(proof, root, match):
    with pytest.raises(ProofError, match=match):
        verify(proof, root)


def test_it_rejects_a_changed_amount(epoch_and_proof):
    epoch, proof = epoch_and_proof
    changed = copy.deepcopy(proof)
    changed["leaf"]["amounts"][0] += 1
    _rejected(changed, epoch.root, "The path ends at root")


def test_it_rejects_a_changed_sibling_hash_or_sum(epoch_and_proof):
    epoch, proof = epoch_and_proof
    changed = copy.deepcopy(proof)
    digits = changed["path"][0]["hash"]
    changed["path"][0]["hash"] = ("1" if digits[0] == "0" else "0") + digits[1:]
    _rejected(changed, epoch.root, "The path ends at root")
    changed = copy.deepcopy(proof)
    changed["path"][-1]["sums"][0] -= 1  # a smaller total would hide liabilities
    _rejected(changed, epoch.root, "The path ends at root")


def test_it_rejects_a_negative_sum(epoch_and_proof):
    """The trick a negative sum would allow: a sibling of -X hides X of liabilities."""
    epoch, proof = epoch_and_proof
    changed = copy.deepcopy(proof)
    changed["path"][0]["sums"][0] = -changed["leaf"]["amounts"][0]
    _rejected(changed, epoch.root, "is negative")
    changed = copy.deepcopy(proof)
    changed["leaf"]["amounts"][0] = -1
    _rejected(changed, epoch.root, "is negative")


def test_it_rejects_sums_that_overflow(epoch_and_proof):
    epoch, proof = epoch_and_proof
    changed = copy.deepcopy(proof)
    changed["path"][0]["sums"][0] = MAX_SUM
    _rejected(changed, epoch.root, "overflows 64 bits")
    changed["path"][0]["sums"][0] = MAX_SUM + 1
    _rejected(changed, epoch.root, "overflows 64 bits")


def test_it_rejects_a_proof_for_another_root(epoch_and_proof):
    epoch, proof = epoch_and_proof
    later = epoch_create()
    _rejected(proof, later.root, "not at")
    changed = copy.deepcopy(proof)
    changed["root"] = later.root  # relabelling the proof does not change where its path ends
    _rejected(changed, later.root, "not at")


@pytest.mark.parametrize(
    "mutate",
    [
        lambda p: p.update(format="other/1"),
        lambda p: p.update(assets=[]),
        lambda p: p["leaf"].update(account="user:1; rm -rf"),
        lambda p: p["leaf"].update(salt="00"),
        lambda p: p["leaf"].update(amounts=[1, 2]),
        lambda p: p["leaf"]["amounts"].__setitem__(0, 1.5),
        lambda p: p["leaf"]["amounts"].__setitem__(0, True),
        lambda p: p["path"][0].update(side="up"),
        lambda p: p.update(path=[p["path"][0]] * 65),
        lambda p: p.update(totals=[0, 0, 0]),
        lambda p: p.update(epoch=0),
    ],
)
def test_it_rejects_malformed_proofs_with_a_reason(epoch_and_proof, mutate):
    epoch, proof = epoch_and_proof
    changed = copy.deepcopy(proof)
    mutate(changed)
    with pytest.raises(ProofError):
        verify(changed, epoch.root)


def _cli(*args: str) -> subprocess.CompletedProcess:
    """The verifier as a user runs it: its own process, no Django settings in sight."""
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT_DIR)}
    return subprocess.run(
        [sys.executable, "-m", "proofs", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd="/",
        timeout=60,
    )


def test_the_command_prints_the_total_it_proves(epoch_and_proof, tmp_path):
    epoch, proof = epoch_and_proof
    path = tmp_path / "proof.json"
    path.write_text(json.dumps(proof))
    done = _cli("verify", str(path), "--root", epoch.root)
    assert done.returncode == 0, done.stderr
    assert f"OK: epoch {epoch.number}, root {epoch.root}" in done.stdout
    assert "holds 150000 pBTC, 0 pHIVE, 0 pHBD" in done.stdout
    assert "total liabilities of 170000 pBTC, 1 pHIVE, 9000 pHBD" in done.stdout


def test_the_command_rejects_with_a_reason_and_a_failing_exit(epoch_and_proof, tmp_path):
    epoch, proof = epoch_and_proof
    proof["leaf"]["amounts"][0] = 1
    path = tmp_path / "proof.json"
    path.write_text(json.dumps(proof))
    done = _cli("verify", str(path), "--root", epoch.root)
    assert done.returncode == 1
    assert done.stderr.startswith("REJECTED: The path ends at root")
    path.write_text("{not json")
    assert "REJECTED" in _cli("verify", str(path), "--root", epoch.root).stderr
    assert "64 hex digits" in _cli("verify", str(path), "--root", "abc").stderr
