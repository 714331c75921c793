"""Hive keys registered as "STM..." become their 66 hex digits, the one form SONPublicKey.save()
keeps, and the Hive federation versions recorded from them hold and fingerprint that form, as
the signers compute it (docs/rotation.md). A version whose hex form is already recorded as
another row is left as it is."""

import hashlib

from django.db import migrations

from chains.hive.transactions import public_key_hex


def hive_keys_as_hex(apps, schema_editor) -> None:
    SONPublicKey = apps.get_model("sons", "SONPublicKey")
    FederationVersion = apps.get_model("sons", "FederationVersion")
    for row in SONPublicKey.objects.filter(sidechain="hive", public_key__startswith="STM"):
        try:
            row.public_key = public_key_hex(row.public_key)
        except ValueError:
            continue
        row.save(update_fields=["public_key"])
    for version in FederationVersion.objects.filter(sidechain="hive"):
        try:
            keys = sorted(public_key_hex(key) for key in version.keys)
        except ValueError:
            continue
        fingerprint = hashlib.sha256(",".join(keys).encode()).hexdigest()
        others = FederationVersion.objects.filter(sidechain="hive", fingerprint=fingerprint)
        if fingerprint == version.fingerprint or others.exists():
            continue
        version.keys, version.fingerprint = keys, fingerprint
        version.save(update_fields=["keys", "fingerprint"])


class Migration(migrations.Migration):
    dependencies = [("sons", "0004_son_accepted_hive_federations")]

    operations = [migrations.RunPython(hive_keys_as_hex, migrations.RunPython.noop)]
