from django.db import migrations, models


def keep_first_refusals(apps, schema_editor):
    """Before the constraint: a SON's repeated refusals of one transaction, all but the first."""
    SignerRefusal = apps.get_model("sidechains", "SignerRefusal")
    seen = set()
    for refusal in SignerRefusal.objects.order_by("created_at", "pk"):
        key = (refusal.sidechain_tx_id, refusal.son_id)
        if key in seen:
            refusal.delete()
        seen.add(key)


class Migration(migrations.Migration):
    dependencies = [
        ("sidechains", "0009_prev_tx"),
    ]

    operations = [
        migrations.RunPython(keep_first_refusals, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="signerrefusal",
            constraint=models.UniqueConstraint(
                fields=("sidechain_tx", "son"), name="sidechains_signerrefusal_once"
            ),
        ),
    ]
