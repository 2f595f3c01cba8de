"""python manage.py release_remake --release ID --out DIR

Writes the release again from its manifest (its filters and pinned selection) into DIR and compares every
file's sha256 with the manifest's. Exit status 1 when any differs.
"""

from pathlib import Path

import orjson
from django.core.management.base import BaseCommand, CommandError

from annotation.exceptions import StepwiseError
from review.releases import release_remake
from review.releases_models import DatasetRelease


class Command(BaseCommand):
    help = "Re-make a release from its manifest and check that every file has the same sha256."

    def add_arguments(self, parser):
        parser.add_argument("--release", type=int, required=True)
        parser.add_argument("--out", required=True, help="A folder that does not exist yet.")
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, release: int, out: str, json: bool, **options):
        target = DatasetRelease.objects.select_related("project").filter(pk=release).first()
        if target is None:
            raise CommandError(f"No release {release}.")
        try:
            check = release_remake(release=target, out=Path(out))
        except StepwiseError as exc:
            raise CommandError(exc.message) from None
        if json:
            self.stdout.write(orjson.dumps(check, option=orjson.OPT_INDENT_2).decode())
        for f in check["files"]:
            if f["expected"] != f["got"]:
                self.stderr.write(f"{f['path']}: manifest {f['expected']}, re-made {f['got']}")
        if not check["identical"]:
            raise CommandError(f"release {release}: re-made files differ from the manifest (listed above).")
        self.stdout.write(self.style.SUCCESS(f"release {release}: {len(check['files'])} files re-made with identical "
                                             f"sha256s; content {check['content_hash']}"))
