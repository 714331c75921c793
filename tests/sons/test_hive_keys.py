"""Hive keys have one form in the portal, 66 hex digits, whichever an administrator registers
("STM..." as `signer keygen` prints it, or hex): so a Hive federation version's fingerprint is
the one `signer federation add --sidechain hive` prints and the signers report in heartbeats.
Rows written in the STM form before are rewritten by the migrations sons 0005 and
proposals 0006."""

import hashlib
import importlib
from datetime import timedelta

import pytest
from django.apps import apps
from django.core.exceptions import ValidationError
from django.utils import timezone

from chains.hive.transactions import public_key_text
from proposals.models import Proposal
from signer.config import fingerprint as signer_fingerprint
from signer.hive_policy import HivePolicy
from sons.federation import federation_current
from sons.models import FederationVersion, Sidechain, SONPublicKey
from tests import fixtures

pytestmark = pytest.mark.django_db

NAMES = ("son-1", "son-2", "son-3")
sons_0005 = importlib.import_module("sons.migrations.0005_hive_keys_as_hex")
proposals_0006 = importlib.import_module("proposals.migrations.0006_hive_rotation_keys_as_hex")


def hex_key(name: str) -> str:
    return fixtures.son_key(name, Sidechain.HIVE).public_key.format().hex()


def stm_key(name: str) -> str:
    return public_key_text(hex_key(name))


def registered_as_stm(*names: str) -> None:
    """SONs whose Hive keys an administrator typed as "STM...", as `signer keygen` prints them."""
    for name in names:
        son, _ = fixtures.make_son(name)
        SONPublicKey.objects.filter(son=son, sidechain=Sidechain.HIVE).delete()
        SONPublicKey.objects.create(son=son, sidechain=Sidechain.HIVE, public_key=stm_key(name))


def test_a_hive_key_registered_as_stm_is_kept_as_hex():
    registered_as_stm("son-1")
    row = SONPublicKey.objects.get(son__name="son-1", sidechain=Sidechain.HIVE)
    assert row.public_key == hex_key("son-1")
    row.public_key = stm_key("son-1")[:-1] + "x"  # a typo: the checksum fails
    with pytest.raises(ValidationError) as invalid:
        row.full_clean()
    assert "public_key" in invalid.value.message_dict


def test_the_portal_fingerprints_a_hive_version_as_the_signer_does():
    registered_as_stm(*NAMES)
    version = federation_current(Sidechain.HIVE)
    assert version is not None
    assert version.keys == sorted(hex_key(n) for n in NAMES)
    stm = tuple(sorted(stm_key(n) for n in NAMES))
    policy = HivePolicy("ab" * 32, "son-federation", accepted_federations=((stm, 2),))
    assert policy.version_fingerprints() == [version.fingerprint]
    assert signer_fingerprint(version.keys) == version.short_fingerprint()


def test_the_migrations_rewrite_stm_keys_their_versions_and_pending_proposals():
    for name in NAMES:
        fixtures.make_son(name)
        SONPublicKey.objects.filter(son__name=name, sidechain=Sidechain.HIVE).update(
            public_key=stm_key(name)
        )
    stm = sorted(stm_key(n) for n in NAMES)
    old_fingerprint = hashlib.sha256(",".join(stm).encode()).hexdigest()
    version = FederationVersion.objects.create(
        sidechain=Sidechain.HIVE, keys=stm, fingerprint=old_fingerprint, threshold=2
    )
    summary = {"fingerprint": old_fingerprint, "keys": stm, "threshold": 2}
    now = timezone.now()
    proposal = Proposal.objects.create(
        kind=Proposal.Kind.ROTATE_FEDERATION,
        payload={"sidechain": "hive", "from": summary, "to": dict(summary)},
        created_at=now,
        expires_at=now + timedelta(days=1),
    )

    sons_0005.hive_keys_as_hex(apps, None)
    proposals_0006.hive_payloads_as_hex(apps, None)

    keys = SONPublicKey.objects.filter(sidechain=Sidechain.HIVE)
    assert sorted(keys.values_list("public_key", flat=True)) == sorted(map(hex_key, NAMES))
    version.refresh_from_db()
    assert version.keys == sorted(map(hex_key, NAMES))
    assert version.fingerprint == FederationVersion.fingerprint_of(version.keys)
    proposal.refresh_from_db()
    for side in ("from", "to"):
        assert proposal.payload[side]["fingerprint"] == version.fingerprint
        assert proposal.payload[side]["keys"] == version.keys
