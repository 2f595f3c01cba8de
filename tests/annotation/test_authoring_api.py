"""The authoring API: happy paths, invalid input, anonymous, outsider, query-count pins on lists."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from annotation.models import Assignment, AssignmentStatus, Chain, Membership
from annotation.services import assignment_claim_next, chains_import, project_creator_set


def _chains(n):
    return b"\n".join(b'{"id": "c%d", "problem": "p%d", "steps": ["a", "b"], "model": "m%d"}' % (i, i, i % 2)
                      for i in range(n))


@pytest.mark.django_db
class TestProjectCreateApi:
    def test_without_the_permission_403_with_it_201_and_admin(self, make_user, api_client):
        user = make_user("creator")
        client = api_client(user)
        response = client.post(reverse("api-projects"), {"slug": "new"}, format="json")
        assert response.status_code == 403
        assert "may not create projects" in response.json()["detail"]
        project_creator_set(user=user, allowed=True)
        response = client.post(reverse("api-projects"), {"slug": "new", "name": "New", "overlap_k": 3},
                               format="json")
        assert response.status_code == 201, response.json()
        assert response.json()["overlap_k"] == 3
        assert Membership.objects.get(project__slug="new", user=user).role == "admin"

    def test_anonymous_is_refused(self, api_client, db):
        assert api_client().post(reverse("api-projects"), {"slug": "x"}, format="json").status_code in (401, 403)


@pytest.mark.django_db
class TestSettingsApi:
    def test_patch_changes_only_what_was_sent(self, project, researcher, api_client):
        response = api_client(researcher).patch(reverse("api-project", args=[project.slug]),
                                                {"claim_timeout_minutes": 15, "assignment_order": "random"},
                                                format="json")
        assert response.status_code == 200, response.json()
        project.refresh_from_db()
        assert (project.claim_timeout_minutes, project.assignment_order, project.overlap_k) == (15, "random", 2)

    def test_bad_value_400_with_field(self, project, researcher, api_client):
        response = api_client(researcher).patch(reverse("api-project", args=[project.slug]),
                                                {"assignment_order": "fastest"}, format="json")
        assert response.status_code == 400
        assert response.json()["field"] == "assignment_order"

    def test_annotator_gets_403_and_outsider_404(self, project, annotator, outsider, api_client):
        # A member sees the project but may not change it (403); an outsider does not see it (404).
        for user, expected in ((annotator, 403), (outsider, 404)):
            response = api_client(user).patch(reverse("api-project", args=[project.slug]), {"overlap_k": 5},
                                              format="json")
            assert response.status_code == expected

    def test_schema_put_and_refusal(self, project, researcher, api_client):
        url = reverse("api-project-schema", args=[project.slug])
        bad = api_client(researcher).put(url, {"label_schema": {"mode": "half"}}, format="json")
        assert bad.status_code == 400 and bad.json()["field"] == "label_schema.mode"
        good = api_client(researcher).put(url, {"label_schema": {"mode": "full"}}, format="json")
        assert good.status_code == 200 and good.json()["label_schema"]["mode"] == "full"

    def test_archive(self, project, researcher, api_client):
        response = api_client(researcher).post(reverse("api-project-archive", args=[project.slug]), {"archived": True},
                                               format="json")
        assert response.status_code == 200 and response.json()["archived_at"]


@pytest.mark.django_db
class TestGuidelinesApi:
    def test_publish_list_and_preview(self, project, researcher, api_client):
        client = api_client(researcher)
        url = reverse("api-guidelines", args=[project.slug])
        assert client.post(url, {"text": "New *rules*", "note": "v2"}, format="json").status_code == 201
        body = client.get(url).json()
        assert body["current"] == 2 and [v["number"] for v in body["versions"]] == [2, 1]
        html = client.post(reverse("api-guidelines-preview", args=[project.slug]),
                           {"text": "<script>alert(1)</script> *x*"}, format="json").json()["html"]
        assert "<script>" not in html and "<em>x</em>" in html

    def test_annotator_cannot_publish(self, project, annotator, api_client):
        url = reverse("api-guidelines", args=[project.slug])
        assert api_client(annotator).post(url, {"text": "x"}, format="json").status_code == 403


@pytest.mark.django_db
class TestMembersApi:
    def test_add_create_change_remove(self, imported, researcher, api_client, make_user):
        client = api_client(researcher)
        url = reverse("api-members", args=[imported.slug])
        created = client.post(url, {"username": "fresh", "role": "annotator", "create": True}, format="json")
        assert created.status_code == 201 and created.json()["password"]
        fresh = Membership.objects.get(project=imported, user__username="fresh").user
        assignment = assignment_claim_next(project=imported, user=fresh)
        removed = client.delete(reverse("api-member", args=[imported.slug, "fresh"]))
        assert removed.status_code == 200 and removed.json()["released"] == 1
        assert Assignment.objects.get(pk=assignment.pk).status == AssignmentStatus.RELEASED
        # The removed member's API access to the assignment ends.
        assert api_client(fresh).get(reverse("api-assignment", args=[assignment.pk])).status_code == 404

    def test_unknown_user_400(self, project, researcher, api_client):
        response = api_client(researcher).post(reverse("api-members", args=[project.slug]),
                                               {"username": "ghost", "role": "annotator"}, format="json")
        assert response.status_code == 400 and response.json()["field"] == "username"

    def test_list_query_count_is_flat(self, project, researcher, api_client, make_user, django_assert_max_num_queries):
        for i in range(12):
            Membership.objects.create(project=project, user=make_user(f"m{i}"), role="annotator")
        client = api_client(researcher)
        with django_assert_max_num_queries(6):
            rows = client.get(reverse("api-members", args=[project.slug])).json()
        assert len(rows) == 13

    def test_outsider_404(self, project, outsider, api_client):
        assert api_client(outsider).get(reverse("api-members", args=[project.slug])).status_code == 404


@pytest.mark.django_db
class TestImportPreviewApi:
    def test_bad_file_lists_every_line_and_writes_nothing(self, project, researcher, api_client):
        data = b'{"id": "a", "problem": "p", "steps": ["s"]}\n{"id": "b"}\n{oops\n'
        response = api_client(researcher).post(reverse("api-import-preview", args=[project.slug]),
                                               {"file": SimpleUploadedFile("bad.jsonl", data)}, format="multipart")
        assert response.status_code == 200
        body = response.json()
        assert not body["ok"] and sorted({e["line"] for e in body["errors"]}) == [2, 3]
        assert not Chain.objects.filter(project=project).exists()

    def test_good_file_counts(self, project, researcher, api_client):
        response = api_client(researcher).post(reverse("api-import-preview", args=[project.slug]),
                                               {"file": SimpleUploadedFile("ok.jsonl", _chains(3))}, format="multipart")
        body = response.json()
        assert body["ok"] and body["result"]["chains_created"] == 3 and len(body["sample"]) == 3
        assert not Chain.objects.filter(project=project).exists()

    def test_empty_file_400_says_empty(self, project, researcher, api_client):
        response = api_client(researcher).post(reverse("api-import-preview", args=[project.slug]),
                                               {"file": SimpleUploadedFile("e.jsonl", b"")}, format="multipart")
        assert response.status_code == 400
        assert "empty" in str(response.json())

    def test_annotator_403(self, project, annotator, api_client):
        response = api_client(annotator).post(reverse("api-import-preview", args=[project.slug]),
                                              {"file": SimpleUploadedFile("ok.jsonl", _chains(1))}, format="multipart")
        assert response.status_code == 403


@pytest.mark.django_db
class TestChainListApi:
    def test_filters_and_pages(self, project, researcher, api_client, django_assert_max_num_queries):
        chains_import(project=project, data=_chains(120))
        Chain.objects.filter(project=project, source_id="c7").update(is_gold=True)
        client = api_client(researcher)
        url = reverse("api-chains", args=[project.slug])
        with django_assert_max_num_queries(5):
            first = client.get(url).json()
        assert len(first["results"]) == 50 and first["next"]
        second = client.get(url, {"after": first["next"]}).json()
        assert second["results"][0]["id"] > first["next"]
        assert [r["source_id"] for r in client.get(url, {"flag": "gold"}).json()["results"]] == ["c7"]
        assert {r["source_model"] for r in client.get(url, {"source_model": "m1"}).json()["results"]} == {"m1"}
        assert [r["source_id"] for r in client.get(url, {"q": "c11"}).json()["results"]][:2] == ["c11", "c110"]
        assert client.get(url, {"status": "weird"}).status_code == 400

    def test_progress(self, imported, researcher, annotator, api_client):
        assignment_claim_next(project=imported, user=annotator)
        body = api_client(researcher).get(reverse("api-progress", args=[imported.slug])).json()
        assert body["project"]["total"] == 20 and body["eta"]["passes_needed"] == 40
        assert {m["username"]: m["open"] for m in body["members"]}["ann1"] == 1


@pytest.mark.django_db
def test_segmentation_preview(project, researcher, annotator, api_client):
    url = reverse("api-segmentation-preview", args=[project.slug])
    text = "Step 1: a. Then b.\nStep 2: c."
    body = api_client(researcher).post(url, {"text": text}, format="json").json()
    assert body["step_marker"] == ["a. Then b.", "c."]
    assert body["sentence"] == ["Step 1: a.", "Then b.", "Step 2: c."]
    assert body["newline"] == ["Step 1: a. Then b.", "Step 2: c."]
    one = api_client(researcher).post(url, {"text": text, "mode": "sentence"}, format="json").json()
    assert list(one) == ["sentence"]
    assert api_client(researcher).post(url, {"text": text, "mode": "regex"}, format="json").status_code == 400
    assert api_client(annotator).post(url, {"text": text}, format="json").status_code == 403
