from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("sidechains", "0009_withdrawal_fee_quote_and_pool")]

    operations = [
        migrations.AddField(
            model_name="sidechaintransaction",
            name="broadcast_height",
            field=models.BigIntegerField(
                blank=True, help_text="The node's tip when it was first sent, if it was.", null=True
            ),
        ),
    ]
