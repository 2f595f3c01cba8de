"""python manage.py export_dataset --project SLUG --format NAME --out PATH

NAME: prm800k, trl-stepwise, processbench, math-shepherd, preference, openai-preference, parquet, oversight
(one line per model-assistance result, oversight/exporting.py).
For a versioned, reproducible dataset with a split by problem, use `release_build`.
"""

import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from annotation.models import Chain, Project
from oversight.exporting import oversight_export_lines
from review.export_parts import export_write
from review.exporters import FORMATS
from review.releases_export import EXTRA_FORMATS, export_extra_lines, export_parquet


class Command(BaseCommand):
    help = "Stream a project's labelled chains to a dataset file."

    def add_arguments(self, parser):
        parser.add_argument("--project", required=True)
        parser.add_argument("--format", required=True, choices=[*FORMATS, *EXTRA_FORMATS, "oversight"])
        parser.add_argument("--out", required=True, help="Output path, or - for standard output (not for parquet).")
        parser.add_argument("--no-progress", action="store_true")
        parser.add_argument("--processes", type=int, choices=[1, 2], default=2,
                            help="prm800k, trl-stepwise, processbench on PostgreSQL: write a large project's second "
                                 "half in a second process (default 2; 1: one process).")

    def handle(self, *args, project: str, format: str, out: str, no_progress: bool, processes: int = 2,
               **options):
        target = Project.objects.filter(slug=project).first()
        if target is None:
            raise CommandError(f"No project '{project}'.")
        to_stdout = out == "-"
        path = Path(out)
        if not to_stdout and not path.parent.is_dir():
            raise CommandError(f"{path.parent}: no such folder for --out.")
        # Write to a temporary name and rename at the end: a failed export never leaves half a file.
        partial = path.with_name(path.name + ".partial")
        if format == "parquet":
            if to_stdout:
                raise CommandError("--format parquet needs a file for --out (Parquet is not a stream).")
            try:
                rows = export_parquet(project=target, out=partial)
            except BaseException:
                partial.unlink(missing_ok=True)
                raise
            partial.replace(path)
            self.stdout.write(self.style.SUCCESS(f"{path}: parquet, {rows} rows."))
            return
        handle = sys.stdout.buffer if to_stdout else partial.open("wb")
        rows = 0
        bar = tqdm(total=Chain.objects.filter(project=target).count(), unit="row", file=self.stderr._out,
                   disable=no_progress or to_stdout, leave=False)
        try:
            if format in FORMATS:
                rows = export_write(project=target, fmt=format, handle=handle, parts=processes,
                                    on_rows=lambda n: bar.update(n - bar.n)).rows
            else:
                chunks = (oversight_export_lines(project=target) if format == "oversight"  # a line per result
                          else export_extra_lines(project=target, fmt=format))
                for chunk in chunks:
                    handle.write(chunk)
                    rows += 1
                    if rows % 1000 == 0:
                        bar.update(1000)
        except BaseException:
            if not to_stdout:
                handle.close()
                partial.unlink(missing_ok=True)
            raise
        finally:
            bar.close()
        if not to_stdout:
            handle.close()
            partial.replace(path)
            self.stdout.write(self.style.SUCCESS(f"{path}: {format}, {rows} rows."))
