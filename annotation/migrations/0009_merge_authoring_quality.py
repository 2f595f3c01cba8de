from django.db import migrations


class Migration(migrations.Migration):
    """Joins the chain-list search index (authoring) and escalation/screening (quality), written side by side."""

    dependencies = [
        ("annotation", "0008_authoring_problem_search"),
        ("annotation", "0008_quality_escalation_screening"),
    ]

    operations = []
