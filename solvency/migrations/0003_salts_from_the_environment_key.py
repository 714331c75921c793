"""The epochs' salt secret leaves the database: salts are derived from SOLVENCY_SALT_KEY in the
environment (docs/decisions.md). The column and its values are dropped; epochs made before keep
their published roots and totals, but their per-user proofs can no longer be made (their
salt_key_id stays empty, and a proof request says so)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("solvency", "0002_epoch_anchor"),
    ]

    operations = [
        migrations.RemoveField(
            model_name="epoch",
            name="secret",
        ),
        migrations.AddField(
            model_name="epoch",
            name="salt_key_id",
            field=models.CharField(
                blank=True,
                editable=False,
                help_text="Names the SOLVENCY_SALT_KEY its salts come from (the key is not stored).",
                max_length=16,
            ),
        ),
    ]
