"""The audit log is a hash chain: each record carries the previous record's hash, appends
chain correctly under concurrency, and the verify command finds an edited, removed or forged
record."""

import threading
import time

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction

from audit.chain import GENESIS
from audit.models import AuditRecord
from audit.services import audit_head_hash, audit_record, audit_verify

pytestmark = pytest.mark.django_db

TRIGGER = "audit_auditrecord_append_only"


def _tamper(sql: str, params=()) -> None:
    """What someone with the database's owner rights could do: bypass the append-only
    trigger. Inside the test's transaction, so it is rolled back afterwards."""
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # no pending events before ALTER TABLE
        cursor.execute(f"ALTER TABLE audit_auditrecord DISABLE TRIGGER {TRIGGER}")
        cursor.execute(sql, params)
        cursor.execute(f"ALTER TABLE audit_auditrecord ENABLE TRIGGER {TRIGGER}")


def _three(admin_user):
    return [
        audit_record(actor=admin_user, action="rate.set", target="exchangerate:1", reason="a"),
        audit_record(actor=None, action="son.deregistered", target="son:1", details={"x": [1]}),
        audit_record(actor=admin_user, action="withdrawal.failed", target="withdrawal:2"),
    ]


def test_it_chains_each_record_to_the_previous_one(admin_user):
    first, second, third = _three(admin_user)
    assert (first.seq, first.prev_hash) == (1, GENESIS)
    assert (second.seq, second.prev_hash) == (2, first.hash)
    assert (third.seq, third.prev_hash) == (3, second.hash)
    assert audit_head_hash() == third.hash
    for record in AuditRecord.objects.all():  # as read back from the database
        assert record.computed_hash() == record.hash


def test_an_empty_log_has_the_genesis_head_and_verifies():
    assert audit_head_hash() == GENESIS
    assert audit_verify() == (0, [])


def test_the_command_accepts_an_intact_chain(admin_user, capsys):
    *_, head = _three(admin_user)
    call_command("audit_verify", head=head.hash)
    assert f"3 records, chain intact, head {head.hash}" in capsys.readouterr().out


def test_the_command_detects_an_edited_row(admin_user, capsys):
    _, second, _ = _three(admin_user)
    _tamper("UPDATE audit_auditrecord SET reason = 'nothing happened' WHERE id = %s", [second.pk])
    with pytest.raises(CommandError, match="broken: 1 problem"):
        call_command("audit_verify")
    assert "record 2: its fields do not give its hash (edited)" in capsys.readouterr().err


def test_the_command_detects_an_edit_that_recomputes_the_rows_own_hash(admin_user, capsys):
    """Rehashing the edited row is not enough: the next one names the old hash."""
    first, second, _ = _three(admin_user)
    edited = AuditRecord.objects.get(pk=second.pk)
    edited.reason = "nothing happened"
    _tamper(
        "UPDATE audit_auditrecord SET reason = %s, hash = %s WHERE id = %s",
        [edited.reason, edited.computed_hash(), second.pk],
    )
    with pytest.raises(CommandError):
        call_command("audit_verify")
    assert "record 3: does not name the previous record's hash" in capsys.readouterr().err


def test_the_command_detects_a_removed_row(admin_user, capsys):
    _, second, _ = _three(admin_user)
    _tamper("DELETE FROM audit_auditrecord WHERE id = %s", [second.pk])
    with pytest.raises(CommandError):
        call_command("audit_verify")
    err = capsys.readouterr().err
    assert "record 2: records 2..2 missing" in err
    assert "record 3: does not name the previous record's hash" in err


def test_the_command_detects_a_removed_head_against_a_published_one(admin_user):
    *_, third = _three(admin_user)
    _tamper("DELETE FROM audit_auditrecord WHERE id = %s", [third.pk])
    call_command("audit_verify")  # the rest is consistent...
    with pytest.raises(CommandError, match="not in the chain"):
        call_command("audit_verify", head=third.hash)  # ...but not what was published


def test_the_command_refuses_a_malformed_head():
    with pytest.raises(CommandError, match="64 lowercase hex"):
        call_command("audit_verify", head="zz")


@pytest.mark.django_db(transaction=True)
def test_concurrent_appends_chain_one_after_the_other(admin_user):
    """The first append holds its transaction open; the second waits for the lock and chains
    to the first instead of to the same head."""
    first_written, release = threading.Event(), threading.Event()
    audit_record(actor=None, action="rate.set", target="exchangerate:0")

    def slow():
        try:
            with transaction.atomic():
                audit_record(actor=None, action="rate.set", target="exchangerate:1")
                first_written.set()
                release.wait(10)
        finally:
            connection.close()

    def fast():
        try:
            first_written.wait(10)
            audit_record(actor=None, action="rate.set", target="exchangerate:2")
        finally:
            connection.close()

    threads = [threading.Thread(target=slow), threading.Thread(target=fast)]
    for t in threads:
        t.start()
    first_written.wait(10)
    time.sleep(0.5)
    assert AuditRecord.objects.count() == 1  # the second waits on the lock
    release.set()
    for t in threads:
        t.join(10)
    records = list(AuditRecord.objects.order_by("seq"))
    assert [r.target for r in records] == ["exchangerate:0", "exchangerate:1", "exchangerate:2"]
    assert audit_verify() == (3, [])
