from decimal import Decimal

import pytest

from rates.assets import Pair
from rates.models import SEED_VALID_FROM, ExchangeRate


@pytest.fixture
def seeded(db):
    """The seed rows of migration 0002 (a transactional test elsewhere may have flushed them)."""
    for pair in Pair:
        ExchangeRate.objects.get_or_create(
            pair=pair, valid_from=SEED_VALID_FROM, defaults={"rate": Decimal(1), "note": "seed"}
        )
