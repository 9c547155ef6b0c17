from django.db import migrations


def create_defaults(apps, schema_editor):
    from pii.defaults import DEFAULT_POLICIES, default_fields

    PiiPolicy = apps.get_model("pii", "PiiPolicy")
    for pii_type in DEFAULT_POLICIES:
        PiiPolicy.objects.get_or_create(pii_type=pii_type, defaults=default_fields(pii_type))


class Migration(migrations.Migration):
    dependencies = [("pii", "0001_initial")]

    operations = [migrations.RunPython(create_defaults, migrations.RunPython.noop)]
