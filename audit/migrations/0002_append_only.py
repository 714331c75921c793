"""The database itself refuses to change or delete an audit record.

An UPDATE that changes nothing is let through: Django's serialized test rollback re-saves
unchanged rows that way. TRUNCATE (test flushes) fires no row trigger.
"""

from django.db import migrations

FORWARD = """
CREATE FUNCTION audit_auditrecord_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW IS NOT DISTINCT FROM OLD THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'audit_auditrecord is append-only: % refused', TG_OP
        USING ERRCODE = 'restrict_violation';
END
$$;
CREATE TRIGGER audit_auditrecord_append_only
    BEFORE UPDATE OR DELETE ON audit_auditrecord
    FOR EACH ROW EXECUTE FUNCTION audit_auditrecord_append_only();
"""

BACKWARD = """
DROP TRIGGER audit_auditrecord_append_only ON audit_auditrecord;
DROP FUNCTION audit_auditrecord_append_only();
"""


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial")]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
