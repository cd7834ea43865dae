# Safe under traffic on PostgreSQL 11+: a column with a constant default is added
# without rewriting the table, and with no CHECK to validate against every row (a
# brief ACCESS EXCLUSIVE lock; docs/operations.md, "Migrations under traffic").

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("integration", "0004_gateway_admin_permissions"),
    ]

    operations = [
        migrations.AddField(
            model_name="devicedatarecord",
            name="payload_hash_version",
            field=models.SmallIntegerField(db_default=1, default=2),
        ),
    ]
