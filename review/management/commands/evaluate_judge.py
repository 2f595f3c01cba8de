"""python manage.py evaluate_judge --release ID (--predictions FILE --judge NAME [--pairs] | --backend NAME [--request])
       [--split test] [--resamples N]

With --pairs the file holds a pairwise judge's picks on the release's preference pairs, each shown in both
orders ({"id", "shown_first": "chosen"|"rejected", "picked": "first"|"second"}): the position-swap check.

With --backend the judge is an oversight backend: --request asks it for a critique of every chain of the
split (on the oversight workers; run again when they are done), and without it the finished critiques are
scored.

Scores a judge's predictions (JSON Lines {"id", "label", "step_scores"?}) against the release and prints
the results as JSON (ProcessBench F1 per subset and average, step precision/recall, calibration, the
human ceiling, each with its interval).
"""

from pathlib import Path

import orjson
from django.core.management.base import BaseCommand, CommandError

from annotation.exceptions import StepwiseError
from review.evaluations import evaluation_create, predictions_from_runs, release_judge_request
from review.releases_models import DatasetRelease


class Command(BaseCommand):
    help = "Score a judge's step judgements against a release."

    def add_arguments(self, parser):
        parser.add_argument("--release", type=int, required=True)
        parser.add_argument("--predictions")
        parser.add_argument("--judge")
        parser.add_argument("--backend", help="An oversight backend's name: score its critiques.")
        parser.add_argument("--request", action="store_true", help="With --backend: ask it to critique the split.")
        parser.add_argument("--split", default="test")
        parser.add_argument("--resamples", type=int, default=1000)
        parser.add_argument("--pairs", action="store_true",
                            help="The file holds a pairwise judge's picks on the release's preference pairs in both "
                                 "orders: the position-swap check.")

    def handle(self, *args, release: int, predictions: str, judge: str, split: str, resamples: int, backend: str,
               request: bool, pairs: bool = False, **options):
        target = DatasetRelease.objects.select_related("project").filter(pk=release).first()
        if target is None:
            raise CommandError(f"No release {release}.")
        try:
            if backend and request:
                asked = release_judge_request(release=target, backend_name=backend, split=split)
                self.stdout.write(orjson.dumps(asked).decode())
                return
            if backend:
                data, skipped = predictions_from_runs(release=target, backend_name=backend, split=split)
                self.stderr.write(f"left out: {skipped}")
                judge = judge or backend
            else:
                if not predictions or not judge:
                    raise CommandError("give --predictions FILE and --judge NAME, or --backend NAME.")
                path = Path(predictions)
                if not path.is_file():
                    raise CommandError(f"{path}: no such file for --predictions.")
                data = path.read_bytes()
            evaluation = evaluation_create(release=target, user=None, judge=judge, data=data, split=split,
                                           resamples=resamples, pairs=pairs and not backend)
        except StepwiseError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(orjson.dumps({"evaluation": evaluation.pk, **evaluation.results},
                                       option=orjson.OPT_INDENT_2).decode())
        if evaluation.results.get("kind") == "position_swap":
            consistency = evaluation.results["measures"].get("consistency", {}).get("value")
            self.stderr.write(f"evaluation {evaluation.pk}: {judge} position-swap consistency {consistency} on "
                              f"{evaluation.results['judged_both_orders']} pairs")
            return
        average = evaluation.results["measures"].get("f1:average", {}).get("value")
        self.stderr.write(f"evaluation {evaluation.pk}: {judge} average F1 {average if average is None else round(average, 1)} "
                          f"on {evaluation.results['predicted']} chains")
