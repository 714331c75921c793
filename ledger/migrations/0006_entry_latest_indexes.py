# Built concurrently: the ledger takes writes while the indexes are built.

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("ledger", "0005_federation_fee_reason"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="entry",
            index=models.Index(fields=["source", "-id"], name="ledger_entry_source_latest"),
        ),
        AddIndexConcurrently(
            model_name="entry",
            index=models.Index(fields=["destination", "-id"], name="ledger_entry_dest_latest"),
        ),
    ]
