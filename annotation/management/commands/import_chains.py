"""python manage.py import_chains PATH --project SLUG [--create] [--format auto|stepwise|processbench|prm800k]
[--update-labels]"""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from annotation.exceptions import StepwiseError
from annotation.formats import FileRefused
from annotation.formats.parse import FORMATS
from annotation.models import Project
from annotation.services import chains_import, project_create


class Command(BaseCommand):
    help = ("Import chains (stepwise JSONL, ProcessBench, PRM800K) into a project. A file with any bad row is "
            "refused whole, every bad line listed; importing a file twice adds nothing.")

    def add_arguments(self, parser):
        parser.add_argument("path", type=Path)
        parser.add_argument("--project", required=True, help="Project slug.")
        parser.add_argument("--create", action="store_true", help="Create the project if it does not exist.")
        parser.add_argument("--format", default="auto", choices=("auto", *FORMATS))
        parser.add_argument("--update-labels", action="store_true",
                            help="For chains already in the project whose labels in this file differ: add the new "
                                 "labels as a new label set (the old one is kept as history) instead of refusing.")
        parser.add_argument("--no-progress", action="store_true", help="No progress bar (for logs).")

    def handle(self, *args, path: Path, project: str, create: bool, format: str, update_labels: bool,
               no_progress: bool, **options):
        if not path.is_file():
            raise CommandError(f"{path}: no such file.")
        target = Project.objects.filter(slug=project).first()
        if target is None:
            if not create:
                raise CommandError(f"No project '{project}'. Add --create to create it, or check the slug.")
            try:
                target = project_create(slug=project, name=project)
            except StepwiseError as exc:
                raise CommandError(exc.message) from None
        bar = tqdm(total=path.stat().st_size, desc="import", unit="B", unit_scale=True, file=self.stderr._out,
                   disable=no_progress, leave=False)

        def progress(phase: str, done: int, total: int) -> None:
            bar.update(min(done, total) - bar.n)

        try:
            result = chains_import(project=target, data=path, fmt=format, filename=str(path), progress=progress,
                                   update_labels=update_labels)
        except FileRefused as refused:
            raise CommandError(refused.summary()) from None
        except StepwiseError as exc:
            raise CommandError(f"{path}: {exc.message}") from None
        finally:
            bar.close()
        self.stdout.write(self.style.SUCCESS(
            f"{path}: {result.format}; {result.chains_created} chains imported ({result.steps_created} steps), "
            f"{result.chains_skipped} already present, {result.label_sets_created} label sets "
            f"({result.step_labels_created} step labels)"
            + (f", {result.label_sets_replaced} label sets replaced" if result.label_sets_replaced else "")
            + f" into '{target.slug}' in {result.seconds:.1f} s."))
        if result.unknown_fields:
            fields = ", ".join(f"{name} ({count} rows)" for name, count in result.unknown_fields.items())
            self.stdout.write(self.style.WARNING(f"Fields this format does not know, kept in each chain's metadata: "
                                                 f"{fields}."))
