from django.db import migrations

from pii.defaults import DEFAULT_POLICIES
from federation.tier_policy import create_defaults


class Migration(migrations.Migration):
    dependencies = [("pii", "0001_initial")]

    operations = [
        migrations.RunPython(create_defaults("pii", "PiiPolicy", "pii_type", DEFAULT_POLICIES), migrations.RunPython.noop)
    ]
