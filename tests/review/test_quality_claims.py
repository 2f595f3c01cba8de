"""Gold chains come at the project's share of each annotator's claims; screening chains come first to every
annotator, holding no overlap slot."""

import pytest

from annotation.models import Assignment, Chain
from annotation.services import assignment_claim_next, assignment_skip, chains_import
from review.adjudication import chain_set_gold, review_policy_set
from tests.review.quality_helpers import make_project


def claim_all(project, user) -> list[str]:
    """What the user is served, claim after claim (each skipped to get the next)."""
    served = []
    while (a := assignment_claim_next(project=project, user=user)) is not None:
        served.append(a.chain.source_id)
        assignment_skip(assignment=a, user=user, reason="test")
    return served


@pytest.fixture
def many(make_user):
    project, users = make_project(make_user, k=1, annotators=("ann1", "ann2"))
    rows = b"\n".join(b'{"id": "x%d", "problem": "p%d", "steps": ["a", "b"]}' % (i, i) for i in range(10))
    chains_import(project=project, data=rows, filename="more.jsonl")
    return project, users


@pytest.mark.django_db
def test_gold_chains_come_at_the_share_the_researcher_sets(many):
    project, users = many
    for source_id in ("x7", "x8", "x9"):
        chain_set_gold(chain=Chain.objects.get(source_id=source_id), user=users["res"], is_gold=True)
    served = claim_all(project, users["ann1"])
    assert served[-3:] == ["x7", "x8", "x9"]  # no share set: gold is just chains, in id order
    review_policy_set(project=project, user=users["res"], gold_share=0.25)
    project.refresh_from_db()
    served = claim_all(project, users["ann2"])
    assert len(served) == 12
    gold_at = [i for i, s in enumerate(served) if s in ("x7", "x8", "x9")]
    assert gold_at == [0, 4, 8]  # one in four, spread through the queue


@pytest.mark.django_db
def test_screening_chains_come_first_to_every_annotator_without_a_slot(many):
    project, users = many
    chain_set_gold(chain=Chain.objects.get(source_id="x5"), user=users["res"], is_screening=True)
    first = assignment_claim_next(project=project, user=users["ann1"])
    assert first.chain.source_id == "x5" and first.slot is None
    assignment_skip(assignment=first, user=users["ann1"], reason="test")
    second = assignment_claim_next(project=project, user=users["ann2"])
    assert second.chain.source_id == "x5"  # k = 1, yet every annotator gets the screening chain
    assignment_skip(assignment=second, user=users["ann2"], reason="test")
    assert "x5" not in claim_all(project, users["ann1"])
    assert Assignment.objects.filter(chain__source_id="x5").count() == 2
