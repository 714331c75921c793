"""Hive rotation proposals name their versions as sons 0005 recorded them anew: keys as 66 hex
digits and the fingerprint of that form, so that executing a pending one finds its version."""

import hashlib

from django.db import migrations

from chains.hive.transactions import public_key_hex


def hive_payloads_as_hex(apps, schema_editor) -> None:
    Proposal = apps.get_model("proposals", "Proposal")
    FederationVersion = apps.get_model("sons", "FederationVersion")
    rotations = Proposal.objects.filter(kind="rotate_federation", payload__sidechain="hive")
    for proposal in rotations:
        changed = False
        for side in ("from", "to"):
            version = proposal.payload.get(side) or {}
            try:
                keys = sorted(public_key_hex(key) for key in version.get("keys", []))
            except ValueError:
                continue
            fingerprint = hashlib.sha256(",".join(keys).encode()).hexdigest()
            recorded = FederationVersion.objects.filter(sidechain="hive", fingerprint=fingerprint)
            if fingerprint != version.get("fingerprint") and recorded.exists():
                version.update(keys=keys, fingerprint=fingerprint)
                changed = True
        if changed:
            proposal.save(update_fields=["payload"])


class Migration(migrations.Migration):
    dependencies = [
        ("proposals", "0005_one_pending_rotation_per_sidechain"),
        ("sons", "0005_hive_keys_as_hex"),
    ]

    operations = [migrations.RunPython(hive_payloads_as_hex, migrations.RunPython.noop)]
