from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("sidechains", "0010_sidechaintransaction_broadcast_height")]

    operations = [
        migrations.AlterModelOptions(
            name="sidechaintransaction",
            options={
                "ordering": ["-created_at", "-id"],
                "permissions": [
                    (
                        "abandon_sidechaintransaction",
                        "Can abandon a rotation transaction stranded awaiting signatures",
                    )
                ],
            },
        ),
        migrations.AddField(
            model_name="sidechaintransaction",
            name="abandoned_reason",
            field=models.CharField(
                blank=True,
                help_text="Why an administrator abandoned it (a rotation's, stranded awaiting signatures).",
                max_length=200,
            ),
        ),
    ]
