import django.db.models.fields.json
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("proposals", "0004_proposal_history_index")]

    operations = [
        migrations.RemoveConstraint(
            model_name="proposal",
            name="proposals_proposal_one_pending_rotation",
        ),
        migrations.AddConstraint(
            model_name="proposal",
            constraint=models.UniqueConstraint(
                django.db.models.fields.json.KeyTextTransform("sidechain", "payload"),
                condition=models.Q(
                    ("kind", "rotate_federation"), ("status__in", ["open", "approved"])
                ),
                name="proposals_proposal_one_pending_rotation_per_sidechain",
            ),
        ),
    ]
