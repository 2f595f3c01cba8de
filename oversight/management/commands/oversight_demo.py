"""python manage.py oversight_demo --project SLUG: the demo project's oversight settings (the symbolic checker on
import, for every annotator). The embedded model, when built, adds critiques (serve_embedded_model)."""

from django.core.management.base import BaseCommand, CommandError

from annotation.models import Project
from oversight.models import OversightPolicy
from oversight.services import policy_set


class Command(BaseCommand):
    help = "Switch on the symbolic checker (on import) for a demo project."

    def add_arguments(self, parser):
        parser.add_argument("--project", required=True)

    def handle(self, *args, project, **options):
        target = Project.objects.filter(slug=project).first()
        if target is None:
            raise CommandError(f"No project '{project}'.")
        current = OversightPolicy.objects.filter(project=target).first()
        passes = {**(current.passes if current else {}), "symbolic": "on_import"}
        policy_set(project=target, passes=passes, assisted_share=1.0)
        self.stdout.write(f"Oversight on for '{project}': {', '.join(sorted(passes))}.")
