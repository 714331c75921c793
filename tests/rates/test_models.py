from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction

from rates.assets import Pair
from rates.models import SEED_VALID_FROM, AppendOnlyError, ExchangeRate, rate_in_force

T1 = datetime(2025, 1, 1, 12, tzinfo=UTC)
T2 = datetime(2025, 2, 1, 12, tzinfo=UTC)
SECOND = timedelta(seconds=1)

pytestmark = pytest.mark.usefixtures("seeded")


def add(pair=Pair.BTC_PBTC, rate="0.99", valid_from=T1, **kw) -> ExchangeRate:
    return ExchangeRate.objects.create(pair=pair, rate=Decimal(rate), valid_from=valid_from, **kw)


def test_it_finds_the_rate_in_force_at_any_time():
    first, second = add(rate="0.99", valid_from=T1), add(rate="0.98", valid_from=T2)
    assert rate_in_force(Pair.BTC_PBTC, T1 - SECOND).rate == Decimal(1)  # the seed
    assert rate_in_force(Pair.BTC_PBTC, T1) == first  # the boundary belongs to the new rate
    assert rate_in_force(Pair.BTC_PBTC, T2 - SECOND) == first
    assert rate_in_force(Pair.BTC_PBTC, T2) == second
    assert rate_in_force(Pair.BTC_PBTC, T2 + timedelta(days=3650)) == second
    assert rate_in_force(Pair.HIVE_PHIVE, T2).rate == Decimal(1)  # other pairs untouched


def test_it_applies_a_future_rate_only_from_its_time():
    later = datetime.now(UTC) + timedelta(days=1)
    scheduled = add(rate="1.5", valid_from=later)
    assert rate_in_force(Pair.BTC_PBTC).rate == Decimal(1)
    assert rate_in_force(Pair.BTC_PBTC, later) == scheduled
    assert list(ExchangeRate.objects.scheduled()) == [scheduled]


def test_it_has_no_rate_before_the_seed():
    with pytest.raises(ExchangeRate.DoesNotExist):
        rate_in_force(Pair.BTC_PBTC, SEED_VALID_FROM - SECOND)


def test_it_lists_the_rate_in_force_per_pair():
    add(rate="0.99", valid_from=T1)
    in_force = {row.pair: row.rate for row in ExchangeRate.objects.in_force(T2)}
    assert in_force == {"BTC/pBTC": Decimal("0.99"), "HIVE/pHIVE": 1, "HBD/pHBD": 1}


def test_it_tells_each_rows_status():
    first, second = add(valid_from=T1), add(valid_from=T2)
    in_force = rate_in_force(Pair.BTC_PBTC, T1)
    assert first.status_at(T1, in_force) == ExchangeRate.Status.IN_FORCE
    assert second.status_at(T1, in_force) == ExchangeRate.Status.SCHEDULED
    assert rate_in_force(Pair.BTC_PBTC, SEED_VALID_FROM).status_at(T1, in_force) == "superseded"


def test_it_refuses_to_save_an_existing_row():
    row = add()
    row.rate = Decimal(2)
    with pytest.raises(AppendOnlyError):
        row.save()
    row.refresh_from_db()
    assert row.rate == Decimal("0.99")


def test_it_refuses_to_delete_a_row():
    row = add()
    with pytest.raises(AppendOnlyError):
        row.delete()
    with pytest.raises(AppendOnlyError):
        ExchangeRate.objects.filter(pk=row.pk).delete()
    with pytest.raises(AppendOnlyError):
        ExchangeRate.objects.filter(pk=row.pk).update(rate=2)
    assert ExchangeRate.objects.filter(pk=row.pk).exists()


def test_it_has_the_database_refuse_updates_and_deletes():
    row = add()
    for sql in [
        "UPDATE rates_exchangerate SET rate = 2 WHERE id = %s",
        "DELETE FROM rates_exchangerate WHERE id = %s",
    ]:
        with (
            pytest.raises(IntegrityError, match="append-only"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(sql, [row.pk])
    row.refresh_from_db()
    assert row.rate == Decimal("0.99")


@pytest.mark.parametrize("rate", ["0", "-1"])
def test_it_has_the_database_refuse_a_rate_that_is_not_positive(rate):
    with pytest.raises(IntegrityError, match="rates_exchangerate_rate_positive"):
        add(rate=rate)


def test_it_has_the_database_refuse_two_rates_at_one_instant():
    add(valid_from=T1)
    with pytest.raises(IntegrityError, match="rates_exchangerate_one_per_instant"):
        add(rate="0.5", valid_from=T1)


def test_it_has_the_database_refuse_an_unknown_pair():
    with pytest.raises(IntegrityError, match="rates_exchangerate_pair_known"):
        add(pair="ETH/pETH")
