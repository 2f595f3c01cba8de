"""The annotation API: happy paths, invalid input, anonymous, outsider, query-count pins."""

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from annotation.models import Assignment, Chain, ImportedLabelSet
from annotation.services import membership_set, project_create
from tests.conftest import DEMO_DATA


@pytest.mark.django_db
class TestProjects:
    def test_lists_only_the_users_projects(self, project, annotator, api_client):
        project_create(slug="other")
        response = api_client(annotator).get(reverse("api-projects"))
        assert response.status_code == 200
        assert [p["slug"] for p in response.json()] == ["gsm8k"]

    def test_list_query_count_is_flat(self, make_user, api_client, django_assert_max_num_queries):
        user = make_user("many")
        for i in range(15):
            membership_set(project=project_create(slug=f"p{i}"), user=user, role="annotator")
        client = api_client(user)
        with django_assert_max_num_queries(3):
            assert len(client.get(reverse("api-projects")).json()) == 15

    def test_detail_has_progress(self, imported, annotator, api_client):
        body = api_client(annotator).get(reverse("api-project", args=[imported.slug])).json()
        assert body["progress"] == {"total": 20, "complete": 0, "percent": 0}

    def test_outsider_gets_404_and_anonymous_401(self, project, outsider, api_client):
        assert api_client(outsider).get(reverse("api-project", args=[project.slug])).status_code == 404
        assert api_client().get(reverse("api-project", args=[project.slug])).status_code in (401, 403)

    def test_token_auth(self, project, annotator, api_client):
        token = api_client().post(reverse("api-token"), {"username": "ann1", "password": "correct horse battery staple"})
        client = api_client()
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.json()['token']}")
        assert client.get(reverse("api-projects")).status_code == 200


@pytest.mark.django_db
class TestImportApi:
    def post(self, client, project, data: bytes, name="chains.json", fmt="auto"):
        upload = SimpleUploadedFile(name, data, content_type="application/json")
        return client.post(reverse("api-import-create", args=[project.slug]), {"file": upload, "format": fmt})

    def test_small_file_is_imported_in_the_request(self, project, researcher, api_client):
        response = self.post(api_client(researcher), project, (DEMO_DATA / "processbench_gsm8k_excerpt.json").read_bytes())
        assert response.status_code == 201, response.json()
        assert response.json()["result"]["chains_created"] == 20

    def test_bad_file_is_400_with_line_and_field_and_writes_nothing(self, project, researcher, api_client):
        data = b'{"id": "a", "problem": "p", "steps": ["x"]}\n{"id": "b", "problem": "p", "steps": ["x"], "model": 5}\n'
        response = self.post(api_client(researcher), project, data, "bad.jsonl")
        assert response.status_code == 400
        body = response.json()
        assert body["errors"] == [{"line": 2, "field": "model", "message": body["errors"][0]["message"]}]
        assert "bad.jsonl was refused" in body["detail"]
        assert Chain.objects.count() == 0

    def test_unknown_format_is_400(self, project, researcher, api_client):
        response = self.post(api_client(researcher), project, b"{}", fmt="csv")
        assert response.status_code == 400 and "format" in response.json()

    def test_annotator_and_outsider_cannot_import(self, project, annotator, outsider, api_client):
        data = (DEMO_DATA / "processbench_math_excerpt.json").read_bytes()
        assert self.post(api_client(annotator), project, data).status_code == 403  # a member: sees the project, not the action
        assert self.post(api_client(outsider), project, data).status_code == 404
        assert self.post(api_client(), project, data).status_code in (401, 403)


@pytest.mark.django_db
class TestAnnotateApi:
    def claim(self, client, project):
        return client.post(reverse("api-queue-next", args=[project.slug]))

    def test_claim_label_submit(self, imported, annotator, api_client):
        client = api_client(annotator)
        body = self.claim(client, imported).json()
        steps = body["chain"]["steps"]
        assert body["labels"] == [] and body["status"] == "assigned"
        url = reverse("api-assignment-labels", args=[body["id"]])
        saved = client.patch(url, {"version": body["version"], "labels": [{"step": i, "rating": 1} for i in range(len(steps))]},
                           format="json")
        assert saved.status_code == 200, saved.json()
        submit = client.post(reverse("api-assignment-submit", args=[body["id"]]),
                             {"version": saved.json()["version"], "finish_reason": "solution"}, format="json")
        assert submit.status_code == 200 and submit.json()["status"] == "submitted"
        again = client.post(reverse("api-assignment-submit", args=[body["id"]]),
                            {"version": saved.json()["version"], "finish_reason": "solution"}, format="json")
        assert again.status_code == 200  # idempotent

    def test_annotator_never_sees_imported_or_other_labels(self, imported, annotator, annotator2, api_client):
        first = self.claim(api_client(annotator), imported).json()
        api_client(annotator).patch(reverse("api-assignment-labels", args=[first["id"]]),
                                  {"version": first["version"], "labels": [{"step": 0, "rating": -1}]}, format="json")
        second = self.claim(api_client(annotator2), imported).json()
        assert second["chain"]["id"] == first["chain"]["id"]  # overlap 2: same chain, own assignment
        assert second["labels"] == []
        # the ProcessBench labels exist, yet were not shown
        assert ImportedLabelSet.objects.filter(chain__source_id=first["chain"]["id"]).exists()
        assert api_client(annotator2).get(reverse("api-assignment", args=[first["id"]])).status_code == 404

    def test_invalid_labels_are_400_with_field(self, imported, annotator, api_client):
        client = api_client(annotator)
        body = self.claim(client, imported).json()
        url = reverse("api-assignment-labels", args=[body["id"]])
        response = client.patch(url, {"version": body["version"], "labels": [{"step": 999, "rating": 1}]}, format="json")
        assert response.status_code == 400 and response.json()["field"] == "labels[0].step"
        response = client.patch(url, {"version": body["version"], "labels": [{"step": 0, "rating": 5}]}, format="json")
        assert response.status_code == 400 and "rating" in json.dumps(response.json())

    def test_stale_version_is_409(self, imported, annotator, api_client):
        client = api_client(annotator)
        body = self.claim(client, imported).json()
        url = reverse("api-assignment-labels", args=[body["id"]])
        assert client.patch(url, {"version": body["version"], "labels": [{"step": 0, "rating": 1}]}, format="json").status_code == 200
        stale = client.patch(url, {"version": body["version"], "labels": [{"step": 0, "rating": -1}]}, format="json")
        assert stale.status_code == 409 and "Reload the page" in stale.json()["detail"]
        assert "(version)" not in stale.json()["detail"]

    def test_queue_empty_is_204(self, project, annotator, api_client):
        assert self.claim(api_client(annotator), project).status_code == 204

    def test_outsider_cannot_claim(self, imported, outsider, api_client):
        assert self.claim(api_client(outsider), imported).status_code == 404
        assert Assignment.objects.count() == 0

    def test_my_assignments_query_count_is_flat(self, imported, annotator, api_client, django_assert_max_num_queries):
        client = api_client(annotator)
        for _ in range(5):
            body = self.claim(client, imported).json()
            client.post(reverse("api-assignment-skip", args=[body["id"]]))
        with django_assert_max_num_queries(5):  # session, user, project, role, list
            assert len(client.get(reverse("api-assignments", args=[imported.slug])).json()) == 5


@pytest.mark.django_db
def test_schema_and_docs_are_served(api_client, annotator):
    client = api_client(annotator)
    assert client.get("/api/schema/").status_code == 200
    docs = client.get("/api/docs/")
    assert docs.status_code == 200 and b"cdn" not in docs.content.lower()
