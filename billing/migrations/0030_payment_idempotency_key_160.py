"""A posting key of up to 160 characters: a partner's is its code (up to 32) + ":" + its Idempotency-Key (up to
100), 133 in all, which 128 refused with a message about a length the partner never sent.

A longer varchar is a change of the catalogue only in PostgreSQL: no table rewrite, the unique index kept.
"""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('billing', '0029_drop_bill_account_status_due'),
    ]

    operations = [
        migrations.AlterField(
            model_name='payment',
            name='idempotency_key',
            field=models.CharField(max_length=160, verbose_name='idempotency key'),
        ),
    ]
