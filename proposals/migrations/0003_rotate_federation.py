from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("proposals", "0002_hive_refund")]

    operations = [
        migrations.AlterField(
            model_name="proposal",
            name="kind",
            field=models.CharField(
                choices=[
                    ("deregister_son", "deregister a SON"),
                    ("refund_deposit", "refund a deposit"),
                    ("refund_hive_deposit", "refund a Hive deposit"),
                    ("rotate_federation", "rotate the federation"),
                ],
                max_length=32,
            ),
        ),
        migrations.AddConstraint(
            model_name="proposal",
            constraint=models.UniqueConstraint(
                condition=models.Q(
                    ("kind", "rotate_federation"), ("status__in", ["open", "approved"])
                ),
                fields=("kind",),
                name="proposals_proposal_one_pending_rotation",
            ),
        ),
    ]
