"""python manage.py seed_demo: a demo project from a ProcessBench excerpt, with one user per role.

Safe to run twice. Refuses to run with DEBUG off (the demo users have published passwords) unless --force.
"""

from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from annotation.models import Project, Role
from annotation.services import chains_import, membership_set, project_create

DEMO_DIR = Path(__file__).resolve().parents[2] / "demo"
PASSWORD = "stepwise-demo"  # noqa: S105 (published on purpose: demo only, refused with DEBUG off)
USERS = [
    ("annotator1", Role.ANNOTATOR), ("annotator2", Role.ANNOTATOR), ("annotator3", Role.ANNOTATOR),
    ("reviewer", Role.REVIEWER), ("researcher", Role.RESEARCHER), ("admin", Role.ADMIN),
]
GUIDELINES = """\
Rate **every step** of the chain, top to bottom, the way PRM800K's labelers did:

- **+1 (good)**: correct and moves towards the answer.
- **0 (neutral)**: reasonable, but not helpful (or an innocent detour).
- **−1 (wrong)**: a mistake: a false statement, a wrong calculation, an unjustified leap.

Stop at the first −1 and choose *Found an error*. If every step is fine, choose *Solution*.
Keys: `3` = +1, `2` = 0, `1` = −1, `j`/`k` move, `u` undo, `Ctrl+Enter` submit.

Data: excerpts of ProcessBench (Zheng et al., 2024, Apache-2.0); its expert labels are imported as
the `processbench` annotator, and are not shown to you.
"""


class Command(BaseCommand):
    help = "Seed the demo project and users (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument("--force", action="store_true", help="Seed even with DEBUG off.")

    def handle(self, *args, force: bool, **options):
        if not settings.DEBUG and not force:
            raise CommandError("seed_demo creates users with a published password; it runs only with DEBUG on "
                               "(or pass --force on a throwaway database).")
        User = get_user_model()
        with transaction.atomic():
            project = Project.objects.filter(slug="processbench-demo").first() or project_create(
                slug="processbench-demo", name="ProcessBench demo", guidelines=GUIDELINES, overlap_k=2)
            for username, role in USERS:
                user = User.objects.filter(username=username).first()
                if user is None:
                    user = User.objects.create_user(username=username, password=PASSWORD,
                                                    is_staff=role == Role.ADMIN, is_superuser=role == Role.ADMIN)
                membership_set(project=project, user=user, role=role)
        for name in ("processbench_gsm8k_excerpt.json", "processbench_math_excerpt.json"):
            result = chains_import(project=project, data=(DEMO_DIR / name).read_bytes(), filename=name)
            self.stdout.write(f"{name}: {result.chains_created} chains imported, {result.chains_skipped} already there")
        self.stdout.write(self.style.SUCCESS(f"Demo project '{project.slug}' ready; users: "
                                             + ", ".join(u for u, _ in USERS) + f" (password {PASSWORD})"))
