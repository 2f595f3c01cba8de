"""The screening gate: with a pass mark set, an annotator who has done every screening chain is scored against
their answer keys at the next claim; below the mark, real work is refused with the score and what to do.
Researchers see who failed and let them through or give them the set again."""

import pytest
from django.urls import reverse

from annotation.exceptions import PermissionDenied, ValidationFailed
from annotation.models import Assignment, AuditEvent, ImportedLabelSet, Membership, Role, ScreeningStatus
from annotation.services import assignment_claim_next, membership_set
from review.adjudication import chain_set_gold, member_screening_set, review_policy_set
from tests.review.quality_helpers import annotate, chain, local_cache, make_project  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db

# c1 (three steps) is the screening chain: its key says steps 1 and 3 are right, step 2 wrong.
KEY = "[1, -1, 1]"


@pytest.fixture
def gated(make_user):
    project, users = make_project(make_user, k=1)
    c1 = chain(project, "c1")
    ImportedLabelSet.objects.create(chain=c1, source="processbench", ratings=KEY, finish_reason="found_error",
                                    labels_hash="key")
    chain_set_gold(chain=c1, user=users["res"], is_screening=True)
    review_policy_set(project=project, user=users["res"], screening_pass_mark=0.8)
    project.refresh_from_db()
    return project, users


def _status(project, user):
    return Membership.objects.get(project=project, user=user).screening_status


def test_an_annotator_who_passes_screening_gets_real_work(gated):
    project, users = gated
    annotate(project, users["ann1"], [1, -1, 1], chain="c1")  # 3 of 3
    real = assignment_claim_next(project=project, user=users["ann1"])
    assert real.chain.source_id == "c2"
    member = Membership.objects.get(project=project, user=users["ann1"])
    assert member.screening_status == ScreeningStatus.PASSED and member.screening_score == 1.0


def test_below_the_pass_mark_real_work_is_refused_with_the_score(gated, api_client):
    project, users = gated
    annotate(project, users["ann2"], [1, 1, 1], chain="c1")  # 2 of 3 = 67% < 80%
    with pytest.raises(PermissionDenied, match=r"screening score is 67% \(2 of 3 .*at least 80%"):
        assignment_claim_next(project=project, user=users["ann2"])
    assert _status(project, users["ann2"]) == ScreeningStatus.FAILED
    response = api_client(users["ann2"]).post(reverse("api-queue-next", args=[project.slug]))
    assert response.status_code == 403
    assert "Ask a researcher of the project to let you retry" in response.json()["detail"]
    assert not Assignment.objects.filter(annotator=users["ann2"], chain__source_id="c2").exists()
    # Others are not held up by it.
    annotate(project, users["ann1"], [1, -1, 1], chain="c1")
    assert assignment_claim_next(project=project, user=users["ann1"]).chain.source_id == "c2"


def test_screening_comes_first_and_the_gate_waits_for_every_screening_chain(gated):
    project, users = gated
    c2 = chain(project, "c2")
    ImportedLabelSet.objects.create(chain=c2, source="processbench", ratings="[1, 1]", finish_reason="solution",
                                    labels_hash="key2")
    chain_set_gold(chain=c2, user=users["res"], is_screening=True)
    annotate(project, users["ann2"], [1, 1, 1], chain="c1")  # below the mark on c1 alone …
    second = assignment_claim_next(project=project, user=users["ann2"])  # … but c2 is still to do
    assert second.chain.source_id == "c2" and _status(project, users["ann2"]) == ""


def test_the_researcher_sees_who_failed_and_lets_them_through(gated, api_client):
    project, users = gated
    annotate(project, users["ann2"], [1, 1, 1], chain="c1")
    with pytest.raises(PermissionDenied):
        assignment_claim_next(project=project, user=users["ann2"])
    url = reverse("api-screening", args=[project.slug])
    listed = api_client(users["rev"]).get(url)
    assert listed.status_code == 200
    rows = {row["annotator"]: row for row in listed.json()["annotators"]}
    assert listed.json()["pass_mark"] == 0.8 and listed.json()["screening_chains"] == 1
    assert rows["ann2"]["status"] == "failed" and rows["ann2"]["score"] == pytest.approx(2 / 3)
    assert rows["ann3"]["status"] == "pending" and rows["ann3"]["done"] == 0
    assert api_client(users["rev"]).post(url, {"annotator": "ann2", "action": "waive"}, format="json").status_code == 403
    waived = api_client(users["res"]).post(url, {"annotator": "ann2", "action": "waive"}, format="json")
    assert waived.status_code == 200, waived.json()
    assert {r["annotator"]: r["status"] for r in waived.json()["annotators"]}["ann2"] == "waived"
    assert assignment_claim_next(project=project, user=users["ann2"]).chain.source_id == "c2"
    [event] = AuditEvent.objects.filter(action="screening.waive")
    assert event.detail["before"]["status"] == "failed" and event.detail["before"]["correct"] == 2


def test_a_retry_serves_the_screening_set_again_and_scores_the_new_pass(gated):
    project, users = gated
    annotate(project, users["ann2"], [1, 1, 1], chain="c1")
    with pytest.raises(PermissionDenied):
        assignment_claim_next(project=project, user=users["ann2"])
    member_screening_set(project=project, user=users["res"], annotator="ann2", action="retry")
    assert _status(project, users["ann2"]) == ""
    [event] = AuditEvent.objects.filter(action="screening.retry")
    assert event.detail["before"]["score"] == pytest.approx(2 / 3)
    annotate(project, users["ann2"], [1, -1, 1], chain="c1")  # served again, right this time
    assert assignment_claim_next(project=project, user=users["ann2"]).chain.source_id == "c2"
    assert _status(project, users["ann2"]) == ScreeningStatus.PASSED


def test_a_lowered_pass_mark_counts_at_the_next_claim(gated):
    project, users = gated
    annotate(project, users["ann2"], [1, 1, 1], chain="c1")
    with pytest.raises(PermissionDenied):
        assignment_claim_next(project=project, user=users["ann2"])
    review_policy_set(project=project, user=users["res"], screening_pass_mark=0.6)
    project.refresh_from_db()
    assert assignment_claim_next(project=project, user=users["ann2"]).chain.source_id == "c2"


def test_without_a_pass_mark_screening_is_only_served_first(gated):
    project, users = gated
    review_policy_set(project=project, user=users["res"], screening_pass_mark=0)
    project.refresh_from_db()
    annotate(project, users["ann2"], [-1, 1, 1], chain="c1")  # 1 of 3
    assert assignment_claim_next(project=project, user=users["ann2"]).chain.source_id == "c2"


def test_admins_are_not_gated(gated, make_user):
    project, users = gated
    boss = make_user("boss")
    membership_set(project=project, user=boss, role=Role.ADMIN)
    annotate(project, boss, [-1, 1, 1], chain="c1")
    assert assignment_claim_next(project=project, user=boss).chain.source_id == "c2"


def test_screening_decisions_check_their_input(gated):
    project, users = gated
    with pytest.raises(ValidationFailed, match="'nobody' is not an annotator"):
        member_screening_set(project=project, user=users["res"], annotator="nobody", action="waive")
    with pytest.raises(ValidationFailed, match="expected waive or retry"):
        member_screening_set(project=project, user=users["res"], annotator="ann2", action="forgive")
    with pytest.raises(PermissionDenied):
        member_screening_set(project=project, user=users["ann1"], annotator="ann2", action="waive")
    with pytest.raises(ValidationFailed, match="screening_pass_mark is 2"):
        review_policy_set(project=project, user=users["res"], screening_pass_mark=2)


def test_the_queue_page_lists_screening_and_lets_a_researcher_through(gated, client):
    project, users = gated
    annotate(project, users["ann2"], [1, 1, 1], chain="c1")
    with pytest.raises(PermissionDenied):
        assignment_claim_next(project=project, user=users["ann2"])
    url = reverse("review-queue", args=[project.slug])
    client.force_login(users["res"])
    html = client.get(url).content.decode()
    assert 'id="screening"' in html and "real work needs 80% of the answer key" in html
    assert 'data-annotator="ann2"' in html and "Let through" in html
    answer = client.post(url, {"screening_annotator": "ann2", "screening_action": "waive"}, follow=True)
    assert "ann2 may now take real work." in answer.content.decode()
    assert _status(project, users["ann2"]) == ScreeningStatus.WAIVED
    client.force_login(users["rev"])  # reviewers read it; the buttons are the researchers'
    html = client.get(url).content.decode()
    assert 'id="screening"' in html and "Let through" not in html
    assert client.post(url, {"screening_annotator": "ann2", "screening_action": "retry"}).status_code == 404


def test_the_policy_form_sets_escalation_and_the_pass_mark(gated, client):
    project, users = gated
    client.force_login(users["res"])
    url = reverse("review-queue", args=[project.slug])
    form = {"queue_rule": "first_error", "consensus": "majority", "alpha_threshold": "0.67", "min_annotators": "3",
            "fast_seconds_per_step": "2", "gold_share": "0", "max_annotators": "5", "when_unresolved": "drop",
            "screening_pass_mark": "0.9"}
    page = client.post(url, form, follow=True).content.decode()
    assert "Review policy saved" in page
    project.refresh_from_db()
    assert project.screening_pass_mark == 0.9
    assert project.review_policy.max_annotators == 5 and project.review_policy.when_unresolved == "drop"
    page = client.post(url, {**form, "max_annotators": "3"}, follow=True).content.decode()
    assert "set max_annotators above min_annotators" in page and "Nothing was changed" in page


def test_the_annotate_button_says_why_after_a_failed_screening(gated, client):
    project, users = gated
    annotate(project, users["ann2"], [1, 1, 1], chain="c1")
    client.force_login(users["ann2"])
    page = client.post(reverse("annotate-next", args=[project.slug]), follow=True)
    assert page.redirect_chain[-1][0] == reverse("project", args=[project.slug])
    assert "Your screening score is 67%" in page.content.decode()
    assert not Assignment.objects.filter(annotator=users["ann2"], chain__source_id="c2").exists()
