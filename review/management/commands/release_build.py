"""python manage.py release_build --project SLUG --name NAME --version V --format F [--format F ...] [options]

Records a release and builds it here, with progress on the command line (or, with --queue, hands it to
the exports workers). `--release ID` builds a release that is queued (e.g. when the broker was down).
"""

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from annotation.exceptions import StepwiseError
from annotation.models import Project
from review import releases
from review.releases_build import RELEASE_FORMATS
from review.releases_models import DatasetRelease, LabelSource


class Command(BaseCommand):
    help = "Build a versioned, reproducible dataset release."
    suppressed_base_arguments = {"--version"}  # --version is the release's version here

    def create_parser(self, prog_name, subcommand, **kwargs):
        return super().create_parser(prog_name, subcommand, conflict_handler="resolve", **kwargs)

    def add_arguments(self, parser):
        parser.add_argument("--project")
        parser.add_argument("--name")
        parser.add_argument("--version", dest="release_version")
        parser.add_argument("--format", action="append", dest="formats", choices=RELEASE_FORMATS)
        parser.add_argument("--label-source", default=LabelSource.REFERENCE, choices=LabelSource.values)
        parser.add_argument("--min-agreement", type=float, default=0.0)
        parser.add_argument("--min-label-sets", type=int, default=1)
        parser.add_argument("--test-fraction", type=float, default=0.1)
        parser.add_argument("--seed", default="stepwise")
        parser.add_argument("--neutral", default="positive")
        parser.add_argument("--include-gold", action="store_true")
        parser.add_argument("--include-screening", action="store_true")
        parser.add_argument("--include-planted", action="store_true")
        parser.add_argument("--description", default="")
        parser.add_argument("--release", type=int, help="Build this queued release instead of making a new one.")
        parser.add_argument("--queue", action="store_true", help="Leave the build to the exports workers.")
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args, **o):
        if o["release"]:
            release = DatasetRelease.objects.filter(pk=o["release"]).first()
            if release is None:
                raise CommandError(f"No release {o['release']}.")
        else:
            project = Project.objects.filter(slug=o["project"] or "").first()
            if project is None:
                raise CommandError(f"No project '{o['project']}' (--project SLUG).")
            if not o["name"] or not o["release_version"] or not o["formats"]:
                raise CommandError("--name, --version and at least one --format are needed.")
            try:
                release = releases.release_create(
                    project=project, user=None, name=o["name"], version=o["release_version"], formats=o["formats"],
                    label_source=o["label_source"], min_agreement=o["min_agreement"],
                    min_label_sets=o["min_label_sets"], include_gold=o["include_gold"],
                    include_screening=o["include_screening"], include_planted=o["include_planted"],
                    test_fraction=o["test_fraction"], seed=o["seed"], neutral=o["neutral"],
                    description=o["description"], enqueue=o["queue"])
            except StepwiseError as exc:
                raise CommandError(exc.message) from None
            if o["queue"]:
                self.stdout.write(f"release {release.pk} queued on the exports workers.")
                return
        bar = tqdm(total=release.progress.get("total") or None, unit="chain", file=self.stderr._out,
                   disable=o["no_progress"], leave=False)
        release = releases.release_build(release_id=release.pk, on_progress=lambda done: bar.update(done - bar.n))
        bar.close()
        if release.status != "done":
            raise CommandError(f"release {release.pk} {release.status}: {release.error}")
        counts = release.manifest["counts"]
        self.stdout.write(self.style.SUCCESS(
            f"release {release.pk} {release.name} {release.version}: {counts['chains']} chains, content "
            f"{release.content_hash}, in {releases.store.location(release.pk)}"))
