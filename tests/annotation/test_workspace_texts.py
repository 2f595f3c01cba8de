"""The workspace's split payload: the page carries the texts of the steps around the one it opens on,
the texts API (`api-assignment-texts`) every step's text of the assignment's revision."""

import json

import pytest
from django.urls import reverse

from annotation.models import Role
from annotation.selectors import WORKSPACE_PAGE_TEXTS, assignment_get_for_user, assignment_workspace_data
from annotation.services import (
    assignment_claim_next,
    assignment_labels_save,
    chains_import,
    membership_set,
    project_create,
)
from annotation.services.assignments import LabelInput
from bench.chains import chain_steps, problem_text

STEPS = 600


def claimed(make_user, *, mode: str = "first_error"):
    project = project_create(slug=f"texts-{mode}".replace("_", "-"), name="texts")
    if mode != "first_error":
        project.label_schema = {"mode": mode}
        project.save(update_fields=["label_schema"])
    user = make_user(f"ann-{mode}")
    membership_set(project=project, user=user, role=Role.ANNOTATOR)
    chains_import(project=project, data=json.dumps({"id": "c1", "problem": problem_text(0),
                                                    "steps": chain_steps(STEPS)}).encode(), fmt="stepwise")
    return user, assignment_claim_next(project=project, user=user)


def rate(user, assignment, ratings: dict[int, int]) -> None:
    assignment.refresh_from_db()
    assignment_labels_save(assignment=assignment, user=user, version=assignment.version,
                           labels=[LabelInput(step=i, rating=r) for i, r in ratings.items()])


def lines(response) -> list:
    body = response.content.decode()
    assert body.endswith("\n")
    return [json.loads(line) for line in body.split("\n")[:-1]]


def page_data(user, assignment) -> dict:
    return assignment_workspace_data(assignment=assignment_get_for_user(pk=assignment.pk, user=user))


@pytest.mark.django_db
class TestPageTexts:
    def test_a_fresh_chain_carries_the_first_steps(self, make_user):
        user, assignment = claimed(make_user)
        data = page_data(user, assignment)
        assert data["chain"]["stepCount"] == STEPS
        assert data["textsFrom"] == 0
        assert data["texts"] == chain_steps(STEPS)[:WORKSPACE_PAGE_TEXTS]

    def test_the_window_is_around_the_first_unrated_step(self, make_user):
        user, assignment = claimed(make_user, mode="full")
        rate(user, assignment, dict.fromkeys(range(300), 1))
        data = page_data(user, assignment)
        assert data["textsFrom"] == 300 - WORKSPACE_PAGE_TEXTS // 4
        assert data["texts"] == chain_steps(STEPS)[data["textsFrom"]:data["textsFrom"] + WORKSPACE_PAGE_TEXTS]

    def test_first_error_mode_opens_on_the_first_error_when_all_before_are_rated(self, make_user):
        user, assignment = claimed(make_user)
        rate(user, assignment, {**dict.fromkeys(range(450), 1), 450: -1})
        data = page_data(user, assignment)
        # Every step up to the first error is rated: the page opens on it (550 would be the full mode's).
        assert data["textsFrom"] == 450 - WORKSPACE_PAGE_TEXTS // 4

    def test_the_window_stops_at_the_chains_end(self, make_user):
        user, assignment = claimed(make_user, mode="full")
        rate(user, assignment, dict.fromkeys(range(STEPS - 1), 1))
        data = page_data(user, assignment)
        assert data["textsFrom"] == STEPS - WORKSPACE_PAGE_TEXTS
        assert len(data["texts"]) == WORKSPACE_PAGE_TEXTS


@pytest.mark.django_db
class TestTextsApi:
    def url(self, assignment, revision=None):
        base = reverse("api-assignment-texts", args=[assignment.pk])
        return base if revision is None else f"{base}?revision={revision}"

    def test_every_text_of_the_revision_in_order(self, make_user, api_client):
        user, assignment = claimed(make_user)
        response = api_client(user).get(self.url(assignment, assignment.revision))
        assert response.status_code == 200
        assert response["Content-Type"] == "application/x-ndjson"
        assert "private" in response["Cache-Control"]
        head, *texts = lines(response)
        assert head == {"revision": assignment.revision, "count": STEPS}
        assert texts == chain_steps(STEPS)

    def test_a_text_with_newlines_and_quotes_stays_one_line(self, make_user, api_client):
        project = project_create(slug="texts-lines", name="lines")
        user = make_user("ann-lines")
        membership_set(project=project, user=user, role=Role.ANNOTATOR)
        steps = ["two\nlines", 'a "quoted" \\ step', "</script><b>x</b>", "\u2028 and \u2029"]
        chains_import(project=project, data=json.dumps({"id": "c", "problem": "p", "steps": steps}).encode(),
                      fmt="stepwise")
        assignment = assignment_claim_next(project=project, user=user)
        head, *texts = lines(api_client(user).get(self.url(assignment)))
        assert head["count"] == 4 and texts == steps

    def test_another_revision_is_409_with_what_to_do(self, make_user, api_client):
        user, assignment = claimed(make_user)
        response = api_client(user).get(self.url(assignment, assignment.revision + 1))
        assert response.status_code == 409
        assert response.json()["field"] == "revision"
        assert "reload the page" in response.json()["detail"]

    def test_anonymous_is_refused_and_an_outsider_gets_404(self, make_user, outsider, api_client):
        _, assignment = claimed(make_user)
        assert api_client().get(self.url(assignment)).status_code in (401, 403)
        assert api_client(outsider).get(self.url(assignment)).status_code == 404

    def test_another_annotator_of_the_project_gets_404(self, make_user, api_client):
        _, assignment = claimed(make_user)
        other = make_user("ann-other")
        membership_set(project=assignment.chain.project, user=other, role=Role.ANNOTATOR)
        assert api_client(other).get(self.url(assignment)).status_code == 404

    def test_query_count_does_not_grow_with_the_chain(self, make_user, api_client, django_assert_max_num_queries):
        user, assignment = claimed(make_user)
        client = api_client(user)
        with django_assert_max_num_queries(5):  # session, user, assignment, revisions (+ savepoint slack)
            assert len(lines(client.get(self.url(assignment)))) == STEPS + 1
