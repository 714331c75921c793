import importlib
from decimal import Decimal

import pytest
from django.apps import apps
from django.db.migrations.recorder import MigrationRecorder

from rates.assets import Pair
from rates.models import SEED_VALID_FROM, ExchangeRate

seed_migration = importlib.import_module("rates.migrations.0002_seed")


@pytest.mark.django_db
def test_it_seeds_every_pair_at_one_once():
    # A transactional test elsewhere may have flushed the rows the migration wrote, so the
    # migration's function runs here again: it must (re)create the seed and never twice.
    assert MigrationRecorder.Migration.objects.filter(app="rates", name="0002_seed").exists()
    seed_migration.seed(apps, None)
    seed_migration.seed(apps, None)
    rows = ExchangeRate.objects.order_by("pair")
    assert [(r.pair, r.rate, r.valid_from, r.set_by, r.note) for r in rows] == [
        (pair, Decimal(1), SEED_VALID_FROM, None, "seed") for pair in sorted(Pair.values)
    ]
    assert seed_migration.SEED_VALID_FROM == SEED_VALID_FROM
    assert Pair.values == seed_migration.PAIRS
