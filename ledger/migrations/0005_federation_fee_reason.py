from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("ledger", "0004_fee_pool_account"),
    ]

    operations = [
        migrations.AlterField(
            model_name="entry",
            name="reason",
            field=models.CharField(
                choices=[
                    ("deposit", "deposit credited"),
                    ("withdrawal_escrow", "withdrawal requested (escrow)"),
                    ("withdrawal_burn", "withdrawal settled (escrow burned)"),
                    ("withdrawal_return", "withdrawal failed (escrow returned)"),
                    ("clawback", "credited deposit taken back (reorged out or reclaimed)"),
                    ("transfer", "transfer between users (signed by the sender's key)"),
                    ("withdrawal_fee", "withdrawal fee quoted less network fee (fee pool)"),
                    ("federation_fee", "network fee of a sweep or rotation (fee pool)"),
                ],
                max_length=24,
            ),
        ),
    ]
