from django.db import migrations


class Migration(migrations.Migration):
    """Authoring (0004) and hardening (0005) both follow 0003; nothing to reconcile between them."""

    dependencies = [
        ("annotation", "0004_authoring"),
        ("annotation", "0005_hardening_audit"),
    ]

    operations = []
