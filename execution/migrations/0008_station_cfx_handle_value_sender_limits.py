"""IPC-CFX (docs/cfx.md): a station's CFX handle and a value's sender limits.

Safe while traffic flows: two nullable columns without a default (no rewrite, no scan).
The handle's unique index is built under the station table's lock; stations are a few
hundred rows edited in the admin only, and ingestion only reads them.
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("execution", "0007_hold_permissions"),
    ]

    operations = [
        migrations.AddField(
            model_name="datavalue",
            name="sender_limits",
            field=models.JSONField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="station",
            name="cfx_handle",
            field=models.CharField(
                blank=True,
                help_text="The Source of this station's IPC-CFX messages (docs/cfx.md); empty if its machine sends none.",
                max_length=255,
                null=True,
                unique=True,
                verbose_name="CFX handle",
            ),
        ),
    ]
