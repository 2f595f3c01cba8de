"""python manage.py release_diff OLD_ID NEW_ID: what changed between two releases (JSON)."""

import orjson
from django.core.management.base import BaseCommand, CommandError

from annotation.exceptions import StepwiseError
from review.releases import release_diff
from review.releases_models import DatasetRelease


class Command(BaseCommand):
    help = "Compare two releases: chains added, removed, relabelled, re-segmented, moved between splits."

    def add_arguments(self, parser):
        parser.add_argument("old", type=int)
        parser.add_argument("new", type=int)

    def handle(self, *args, old: int, new: int, **options):
        found = {r.pk: r for r in DatasetRelease.objects.filter(pk__in=[old, new])}
        for pk in (old, new):
            if pk not in found:
                raise CommandError(f"No release {pk}.")
        try:
            diff = release_diff(old=found[old], new=found[new])
        except StepwiseError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(orjson.dumps(diff, option=orjson.OPT_INDENT_2).decode())
