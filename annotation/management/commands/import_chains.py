"""python manage.py import_chains PATH --project SLUG [--create] [--format auto|stepwise|processbench|prm800k]"""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from annotation.formats import FileRefused
from annotation.formats.parse import FORMATS
from annotation.models import Project
from annotation.services import chains_import, project_create


class Command(BaseCommand):
    help = "Import chains (stepwise JSONL, ProcessBench, PRM800K) into a project. A file with any bad row is refused whole."

    def add_arguments(self, parser):
        parser.add_argument("path", type=Path)
        parser.add_argument("--project", required=True, help="Project slug.")
        parser.add_argument("--create", action="store_true", help="Create the project if it does not exist.")
        parser.add_argument("--format", default="auto", choices=("auto", *FORMATS))
        parser.add_argument("--no-progress", action="store_true", help="No progress bar (for logs).")

    def handle(self, *args, path: Path, project: str, create: bool, format: str, no_progress: bool, **options):
        if not path.is_file():
            raise CommandError(f"{path}: no such file.")
        target = Project.objects.filter(slug=project).first()
        if target is None:
            if not create:
                raise CommandError(f"No project '{project}'. Add --create to create it, or check the slug.")
            target = project_create(slug=project, name=project)
        bars: dict[str, tqdm] = {}

        def progress(phase: str, done: int, total: int) -> None:
            if no_progress:
                return
            bar = bars.get(phase)
            if bar is None:
                for other in bars.values():
                    other.close()
                bar = bars[phase] = tqdm(total=total, desc=f"{phase:<6}", unit="line" if phase == "parse" else "chain",
                                         file=self.stderr._out, leave=False)
            bar.update(min(done, total) - bar.n)

        try:
            result = chains_import(project=target, data=path.read_bytes(), fmt=format, filename=str(path),
                                   progress=progress)
        except FileRefused as refused:
            raise CommandError(refused.summary()) from None
        finally:
            for bar in bars.values():
                bar.close()
        self.stdout.write(self.style.SUCCESS(
            f"{path}: {result.format}; {result.chains_created} chains imported ({result.steps_created} steps), "
            f"{result.chains_skipped} already present, {result.label_sets_created} label sets "
            f"({result.step_labels_created} step labels) into '{target.slug}'."))
