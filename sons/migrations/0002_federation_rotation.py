from django.db import migrations, models


def active_latest(apps, schema_editor):
    """Before versions had a status, the newest one was the federation's key set: it is the
    active one; older ones may still hold coins, so they are retiring, not retired."""
    FederationVersion = apps.get_model("sons", "FederationVersion")
    for sidechain in FederationVersion.objects.values_list("sidechain", flat=True).distinct():
        versions = FederationVersion.objects.filter(sidechain=sidechain)
        latest = versions.order_by("-created_at", "-id").first()
        versions.exclude(pk=latest.pk).update(status="retiring")
        versions.filter(pk=latest.pk).update(status="active")


class Migration(migrations.Migration):
    dependencies = [("sons", "0001_initial")]

    operations = [
        migrations.AddField(
            model_name="son",
            name="accepted_federations",
            field=models.JSONField(
                blank=True,
                default=list,
                editable=False,
                help_text="Fingerprints of the federation versions the SON's signer says its"
                " configuration accepts, as of its last heartbeat that said (docs/rotation.md).",
            ),
        ),
        migrations.AddField(
            model_name="federationversion",
            name="status",
            field=models.CharField(
                choices=[
                    ("proposed", "Proposed"),
                    ("accepted", "Accepted"),
                    ("active", "Active"),
                    ("retiring", "Retiring"),
                    ("retired", "Retired"),
                ],
                default="proposed",
                max_length=16,
            ),
        ),
        migrations.RunPython(active_latest, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="federationversion",
            constraint=models.UniqueConstraint(
                condition=models.Q(("status", "active")),
                fields=("sidechain",),
                name="sons_federationversion_one_active",
            ),
        ),
    ]
