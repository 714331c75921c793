"""The audit log is append-only, down to the database."""

import pytest
from django.db import IntegrityError, InternalError, connection, transaction

from audit.models import AppendOnlyError, AuditRecord
from audit.services import AuditError, audit_record, audit_target

pytestmark = pytest.mark.django_db


def test_it_records_who_did_what_to_which_object_and_why(admin_user, son_1):
    son, _ = son_1
    record = audit_record(
        actor=admin_user,
        action="son.token_issued",
        target=audit_target(son),
        reason="  the operator lost the old one  ",
    )
    record.refresh_from_db()
    assert (record.actor, record.action, record.target) == (
        admin_user,
        "son.token_issued",
        f"son:{son.pk}",
    )
    assert record.reason == "the operator lost the old one"
    assert AuditRecord.objects.for_target(f"son:{son.pk}").first() == record  # the newest


def test_it_refuses_a_record_without_an_action_or_a_target(admin_user):
    with pytest.raises(AuditError):
        audit_record(actor=admin_user, action="", target="son:1")
    with pytest.raises(AuditError):
        audit_record(actor=admin_user, action="son.token_issued", target="")
    assert not AuditRecord.objects.exists()


def test_it_never_changes_or_deletes_a_record_through_the_model(admin_user):
    record = audit_record(actor=None, action="son.deregistered", target="son:1")
    record.reason = "rewritten"
    with pytest.raises(AppendOnlyError):
        record.save()
    with pytest.raises(AppendOnlyError):
        record.delete()
    assert AuditRecord.objects.get().reason == ""


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_auditrecord SET reason = 'rewritten'",
        "DELETE FROM audit_auditrecord",
    ],
)
def test_the_database_refuses_to_change_or_delete_a_record(admin_user, statement):
    audit_record(actor=admin_user, action="withdrawal.failed", target="withdrawal:1", reason="x")
    with (
        pytest.raises((InternalError, IntegrityError)),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(statement)
    assert AuditRecord.objects.get().reason == "x"


def test_a_record_names_the_portal_when_nobody_acted():
    record = audit_record(actor=None, action="son.deregistered", target="son:1")
    assert record.actor is None
    assert str(record) == "portal son.deregistered son:1"


def test_the_admin_lists_records_and_offers_no_way_to_write_them(client, admin_user):
    audit_record(actor=admin_user, action="son.token_issued", target="son:1", reason="lost")
    client.force_login(admin_user)
    listing = client.get("/admin/audit/auditrecord/")
    assert listing.status_code == 200
    assert b"son.token_issued" in listing.content
    assert client.get("/admin/audit/auditrecord/add/").status_code == 403
