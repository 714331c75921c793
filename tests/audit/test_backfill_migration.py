"""The hash-chain migration (audit 0003) chains the records written before it: in the order
they were written, each naming the previous one's hash, so that audit_verify accepts the chain
and the records appended after it continue it."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from audit.chain import GENESIS
from audit.models import AuditRecord
from audit.services import audit_record, audit_verify
from tests import fixtures

pytestmark = pytest.mark.django_db(transaction=True)
BEFORE = [("audit", "0002_append_only")]
AFTER = [("audit", "0003_hash_chain")]


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def _latest():
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    return executor.loader.graph.leaf_nodes()


def test_the_migration_chains_existing_records_in_the_order_they_were_written():
    admin = fixtures.make_user("user_carol")
    assert not AuditRecord.objects.exists()
    try:
        old = _migrate(BEFORE).get_model("audit", "AuditRecord")
        start = datetime(2026, 1, 1, tzinfo=UTC)
        # Written out of id order on purpose: the chain follows the time they were written.
        for minutes, action in ((2, "rate.set"), (0, "son.created"), (1, "proposal.approved")):
            with time_machine.travel(start + timedelta(minutes=minutes), tick=False):
                old.objects.create(
                    actor_id=admin.pk, action=action, target="t", reason="r", details={"n": 1}
                )
        _migrate(AFTER)
    finally:
        _migrate(_latest())

    records = list(AuditRecord.objects.order_by("seq"))
    assert [r.action for r in records] == ["son.created", "proposal.approved", "rate.set"]
    assert [r.seq for r in records] == [1, 2, 3]
    assert records[0].prev_hash == GENESIS
    assert [r.prev_hash for r in records[1:]] == [r.hash for r in records[:-1]]
    assert audit_verify() == (3, [])

    appended = audit_record(actor=admin, action="epoch.created", target="e", reason="after")
    assert (appended.seq, appended.prev_hash) == (4, records[-1].hash)
    assert audit_verify() == (4, [])
