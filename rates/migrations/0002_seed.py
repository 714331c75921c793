"""Every pair starts at 1, in force since 2000-01-01 UTC, so a rate is always in force."""

from datetime import UTC, datetime
from decimal import Decimal

from django.db import migrations

PAIRS = ["BTC/pBTC", "HIVE/pHIVE", "HBD/pHBD"]
SEED_VALID_FROM = datetime(2000, 1, 1, tzinfo=UTC)


def seed(apps, schema_editor):
    ExchangeRate = apps.get_model("rates", "ExchangeRate")
    for pair in PAIRS:
        ExchangeRate.objects.get_or_create(
            pair=pair,
            valid_from=SEED_VALID_FROM,
            defaults={"rate": Decimal(1), "note": "seed"},
        )


class Migration(migrations.Migration):
    dependencies = [("rates", "0001_initial")]

    # Unapplying leaves the rows; 0001's reversal drops the table.
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
