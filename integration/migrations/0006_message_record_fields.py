"""Messages keep the fields of their record on the record only (integration/ingestion/stored_payload.py).

Safe while traffic flows: a column with a constant database default and no CHECK
(no table rewrite, no scan, PostgreSQL 11+); code from before it writes 0 meanwhile,
which is right for the whole payloads it stores.
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("integration", "0005_payload_hash_version")]

    operations = [
        migrations.AddField(
            model_name="integrationmessage",
            name="record_fields",
            field=models.SmallIntegerField(db_default=0, default=0),
        ),
    ]
