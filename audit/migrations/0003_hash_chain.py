"""Chain the audit log: each record carries its position, the previous record's hash and its
own. Existing records are chained in the order they were written (created_at, id).

The serialization is frozen here (version 1 of audit/chain.py) so that this migration keeps
giving the same hashes whatever the module becomes. The append-only trigger is switched off
for the backfill only, inside this migration's transaction.
"""

import hashlib
import json
from datetime import UTC

import django.utils.timezone
from django.db import migrations, models

GENESIS = "0" * 64


def _hash(record, seq: int, prev: str) -> str:
    body = {
        "action": record.action,
        "actor": record.actor_id,
        "created_at": record.created_at.astimezone(UTC).isoformat(timespec="microseconds"),
        "details": record.details,
        "prev": prev,
        "reason": record.reason,
        "seq": seq,
        "target": record.target,
    }
    encoded = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(encoded.encode()).hexdigest()


def chain_existing(apps, schema_editor) -> None:
    AuditRecord = apps.get_model("audit", "AuditRecord")
    prev = GENESIS
    records = AuditRecord.objects.order_by("created_at", "id").iterator(chunk_size=2000)
    for seq, record in enumerate(records, start=1):
        digest = _hash(record, seq, prev)
        AuditRecord.objects.filter(pk=record.pk).update(seq=seq, prev_hash=prev, hash=digest)
        prev = digest


TRIGGER_OFF = "ALTER TABLE audit_auditrecord DISABLE TRIGGER audit_auditrecord_append_only"
TRIGGER_ON = "ALTER TABLE audit_auditrecord ENABLE TRIGGER audit_auditrecord_append_only"


class Migration(migrations.Migration):
    dependencies = [("audit", "0002_append_only")]

    operations = [
        migrations.AlterField(
            model_name="auditrecord",
            name="created_at",
            field=models.DateTimeField(default=django.utils.timezone.now),
        ),
        migrations.AddField(
            model_name="auditrecord",
            name="seq",
            field=models.PositiveBigIntegerField(null=True),
        ),
        migrations.AddField(
            model_name="auditrecord",
            name="prev_hash",
            field=models.CharField(default="", max_length=64),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="auditrecord",
            name="hash",
            field=models.CharField(default="", max_length=64),
            preserve_default=False,
        ),
        migrations.RunSQL(TRIGGER_OFF, TRIGGER_ON),
        migrations.RunPython(chain_existing, migrations.RunPython.noop),
        migrations.RunSQL(TRIGGER_ON, TRIGGER_OFF),
        migrations.AlterField(
            model_name="auditrecord",
            name="seq",
            field=models.PositiveBigIntegerField(
                help_text="Position in the chain, from 1.", unique=True
            ),
        ),
        migrations.AlterField(
            model_name="auditrecord",
            name="prev_hash",
            field=models.CharField(help_text="The previous record's hash (hex).", max_length=64),
        ),
        migrations.AlterField(
            model_name="auditrecord",
            name="hash",
            field=models.CharField(help_text="SHA-256 of this record.", max_length=64, unique=True),
        ),
    ]
