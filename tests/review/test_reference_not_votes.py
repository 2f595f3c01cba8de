"""Reference labels are not votes, end to end on the database: a chain imported with ProcessBench's expert
label and annotated in the app goes out with the annotators' consensus, in every export that takes one."""

import orjson
import pytest

from annotation.models import ImportedLabelSet, Role
from annotation.services import chains_import, membership_set, project_create
from review.quality_selectors import project_quality
from review.selectors import export_rows
from tests.review.quality_helpers import annotate, local_cache  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db


@pytest.fixture
def imported_with_labels(make_user):
    project = project_create(slug="refs", name="References", overlap_k=1)
    # ProcessBench says the first error is at step 0; the annotator finds the chain right.
    row = {"id": "pb-1", "generator": "m", "problem": "What is 2 + 2?", "steps": ["2 + 2 = 4", "The answer is 4."],
           "label": 0, "final_answer_correct": True}
    chains_import(project=project, data=orjson.dumps([row]), filename="pb.json")
    assert ImportedLabelSet.objects.filter(chain__project=project).count() == 1
    user = make_user("solo")
    membership_set(project=project, user=user, role=Role.ANNOTATOR)
    annotate(project, user, [1, 1])
    return project


def test_exports_take_the_annotators_labels_not_the_imported_ones(imported_with_labels):
    project = imported_with_labels
    [pb] = export_rows(project=project, fmt="processbench")
    assert pb["label"] == -1  # the annotator's "no error"; with the reference as a vote the tie gave 0
    [trl] = export_rows(project=project, fmt="trl-stepwise")
    assert trl["labels"] == [True, True]
    # prm800k keeps every label set as its own row (no vote): the imported one and the annotator's
    assert len(export_rows_list := list(export_rows(project=project, fmt="prm800k"))) == 2, export_rows_list


def test_the_measures_count_only_submitted_passes(imported_with_labels):
    figures = project_quality(project=imported_with_labels, resamples=0, use_cache=False)
    assert figures["reference_labels_excluded"] is True
    assert figures["krippendorff_alpha"]["n_labels"] == 0  # one annotator: nothing paired; the import adds none
