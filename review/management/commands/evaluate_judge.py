"""python manage.py evaluate_judge --release ID --predictions FILE --judge NAME [--split test] [--resamples N]

Scores a judge's predictions (JSON Lines {"id", "label", "step_scores"?}) against the release and prints
the results as JSON (ProcessBench F1 per subset and average, step precision/recall, calibration, the
human ceiling, each with its interval).
"""

from pathlib import Path

import orjson
from django.core.management.base import BaseCommand, CommandError

from annotation.exceptions import StepwiseError
from review.evaluations import evaluation_create
from review.releases_models import DatasetRelease


class Command(BaseCommand):
    help = "Score a judge's step judgements against a release."

    def add_arguments(self, parser):
        parser.add_argument("--release", type=int, required=True)
        parser.add_argument("--predictions", required=True)
        parser.add_argument("--judge", required=True)
        parser.add_argument("--split", default="test")
        parser.add_argument("--resamples", type=int, default=1000)

    def handle(self, *args, release: int, predictions: str, judge: str, split: str, resamples: int, **options):
        target = DatasetRelease.objects.select_related("project").filter(pk=release).first()
        if target is None:
            raise CommandError(f"No release {release}.")
        path = Path(predictions)
        if not path.is_file():
            raise CommandError(f"{path}: no such file for --predictions.")
        try:
            evaluation = evaluation_create(release=target, user=None, judge=judge, data=path.read_bytes(), split=split,
                                           resamples=resamples)
        except StepwiseError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(orjson.dumps({"evaluation": evaluation.pk, **evaluation.results},
                                       option=orjson.OPT_INDENT_2).decode())
        average = evaluation.results["measures"].get("f1:average", {}).get("value")
        self.stderr.write(f"evaluation {evaluation.pk}: {judge} average F1 {average if average is None else round(average, 1)} "
                          f"on {evaluation.results['predicted']} chains")
