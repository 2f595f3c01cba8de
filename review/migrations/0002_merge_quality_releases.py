# Quality control and releases were built side by side, each with its own first migration.

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("review", "0001_quality_initial"),
        ("review", "0001_releases"),
    ]

    operations = []
