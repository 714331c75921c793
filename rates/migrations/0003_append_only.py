"""The database itself refuses to change or delete an exchange rate.

An UPDATE that changes nothing is let through: Django's serialized test rollback re-saves
unchanged rows that way. TRUNCATE (test flushes) fires no row trigger.
"""

from django.db import migrations

FORWARD = """
CREATE FUNCTION rates_exchangerate_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW IS NOT DISTINCT FROM OLD THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'rates_exchangerate is append-only: % refused', TG_OP
        USING ERRCODE = 'restrict_violation';
END
$$;
CREATE TRIGGER rates_exchangerate_append_only
    BEFORE UPDATE OR DELETE ON rates_exchangerate
    FOR EACH ROW EXECUTE FUNCTION rates_exchangerate_append_only();
"""

BACKWARD = """
DROP TRIGGER rates_exchangerate_append_only ON rates_exchangerate;
DROP FUNCTION rates_exchangerate_append_only();
"""


class Migration(migrations.Migration):
    dependencies = [("rates", "0002_seed")]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
