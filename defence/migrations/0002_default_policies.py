from django.db import migrations

from defence.defaults import DEFAULT_POLICIES
from federation.tier_policy import create_defaults


class Migration(migrations.Migration):
    dependencies = [("defence", "0001_initial")]

    operations = [
        migrations.RunPython(create_defaults("defence", "ThreatPolicy", "category", DEFAULT_POLICIES), migrations.RunPython.noop)
    ]
