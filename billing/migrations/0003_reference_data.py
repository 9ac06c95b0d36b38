"""Install the reference data: categories, staff role groups, platform ledger accounts."""

from django.db import migrations

from billing import reference_data


def forward(apps, schema_editor):
    reference_data.install(apps)


def reverse(apps, schema_editor):
    reference_data.uninstall(apps)


class Migration(migrations.Migration):
    dependencies = [("billing", "0002_ledger_guards"), ("auth", "0012_alter_user_first_name_max_length")]
    operations = [migrations.RunPython(forward, reverse)]
