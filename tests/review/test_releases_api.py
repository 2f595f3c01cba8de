"""Release and evaluation API and pages: happy path, invalid input, anonymous, outsider, query counts."""

import hashlib
import json

import orjson
import pytest
from django.urls import reverse

from review.releases import release_build
from tests.conftest import DEMO_DATA

pytestmark = pytest.mark.django_db
BODY = {"name": "gsm8k-steps", "version": "1.0", "formats": ["processbench", "trl-stepwise", "parquet"],
        "test_fraction": 0.5}


@pytest.fixture
def release(imported, researcher, api_client, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    response = api_client(researcher).post(reverse("api-release-list", args=[imported.slug]), BODY, format="json")
    assert response.status_code == 202, response.json()
    assert response.json()["status"] == "queued" and response.json()["progress"]["total"] == 20
    return release_build(release_id=response.json()["id"])


def test_researcher_creates_follows_and_downloads_a_release(release, researcher, api_client):
    client = api_client(researcher)
    body = client.get(reverse("api-release", args=[release.pk])).json()
    assert body["status"] == "done" and body["content_hash"] == release.content_hash
    listed = {f["path"]: f for f in body["files"]}
    assert "processbench/test.json" in listed and "README.md" in listed and "selection.jsonl" not in listed
    response = client.get(reverse("api-release-file", args=[release.pk, "processbench/test.json"]))
    data = b"".join(response.streaming_content)
    assert response.status_code == 200 and "attachment" in response["Content-Disposition"]
    assert hashlib.sha256(data).hexdigest() == listed["processbench/test.json"]["sha256"]
    manifest = json.loads(b"".join(client.get(reverse("api-release-file", args=[release.pk, "manifest.json"]))
                                   .streaming_content))
    assert manifest["content_hash"] == release.content_hash


def test_files_outside_the_manifest_are_404(release, researcher, api_client):
    client = api_client(researcher)
    for path in ("../../etc/passwd", "nope.json", "data/../../x"):
        assert client.get(reverse("api-release-file", args=[release.pk, path])).status_code == 404


def test_invalid_input_says_how_to_fix_it(imported, researcher, api_client):
    url = reverse("api-release-list", args=[imported.slug])
    response = api_client(researcher).post(url, {**BODY, "formats": ["csv"]}, format="json")
    assert response.status_code == 400 and "choose one or more of" in response.json()["detail"]
    response = api_client(researcher).post(url, {**BODY, "name": "Not a slug"}, format="json")
    assert response.status_code == 400 and response.json()["field"] == "name"
    response = api_client(researcher).post(url, {**BODY, "test_fraction": 2}, format="json")
    assert response.status_code == 400 and "test_fraction" in response.json()


def test_a_version_is_built_once(release, researcher, api_client):
    response = api_client(researcher).post(reverse("api-release-list", args=[release.project.slug]), BODY,
                                           format="json")
    assert response.status_code == 409 and "another version" in response.json()["detail"]


def test_anonymous_outsider_and_annotator_cannot_see_releases(release, outsider, annotator, api_client):
    urls = [reverse("api-release-list", args=[release.project.slug]), reverse("api-release", args=[release.pk]),
            reverse("api-release-file", args=[release.pk, "manifest.json"])]
    for url in urls:
        assert api_client().get(url).status_code in (401, 403)
        assert api_client(outsider).get(url).status_code == 404
        # A member of the project: refused (403), shown nothing of the release.
        refused = api_client(annotator).get(url)
        assert refused.status_code == 403 and release.content_hash not in refused.content.decode()


def test_list_query_count_does_not_grow_with_releases(release, researcher, api_client, django_assert_max_num_queries):
    client = api_client(researcher)
    url = reverse("api-release-list", args=[release.project.slug])
    client.get(url)
    for version in ("2", "3", "4"):
        client.post(url, {**BODY, "version": version}, format="json")
    with django_assert_max_num_queries(6):
        body = client.get(url).json()
    assert len(body) == 4


def test_remake_and_diff(release, researcher, api_client):
    client = api_client(researcher)
    response = client.post(reverse("api-release-remake", args=[release.pk]), {}, format="json")
    assert response.status_code == 202 and response.json()["remade_from"] == release.pk
    again = release_build(release_id=response.json()["id"])
    assert again.content_hash == release.content_hash
    diff = client.get(reverse("api-release-diff", args=[again.pk]) + f"?other={release.pk}").json()
    assert diff["same_content"] and diff["counts"]["unchanged"] == 20
    assert client.get(reverse("api-release-diff", args=[again.pk]) + "?other=x").status_code == 400


def test_evaluation_upload_and_page(release, researcher, api_client, outsider, client):
    items = json.loads((DEMO_DATA / "processbench_gsm8k_excerpt.json").read_text())
    split = {r["id"]: r["split"] for r in map(json.loads, (release.manifest and
             (release_dir_of(release) / "selection.jsonl").read_text().splitlines()))}
    lines = b"\n".join(orjson.dumps({"id": i["id"], "label": -1,
                                     "step_scores": [0.9] * len(i["steps"])}) for i in items if split[i["id"]] == "test")
    from django.core.files.uploadedfile import SimpleUploadedFile

    url = reverse("api-evaluation-list", args=[release.pk])
    response = api_client(researcher).post(url, {"judge": "always-correct", "split": "test", "resamples": 50,
                                                 "file": SimpleUploadedFile("p.jsonl", lines)}, format="multipart")
    assert response.status_code == 201, response.json()
    results = response.json()["results"]
    assert results["measures"]["f1:gsm8k"]["value"] == 0 and results["calibration"]["ece"] > 0
    bad = api_client(researcher).post(url, {"judge": "x", "file": SimpleUploadedFile("p.jsonl", b"{\"id\": 3}")},
                                      format="multipart")
    assert bad.status_code == 400 and "line 1, field 'id'" in bad.json()["detail"]
    neither = api_client(researcher).post(url, {"judge": "x"}, format="multipart")
    assert neither.status_code == 400 and "either a predictions file or an oversight backend" in json.dumps(neither.json())
    assert api_client(outsider).get(reverse("api-evaluation", args=[response.json()["id"]])).status_code == 404
    client.force_login(researcher)
    page = client.get(reverse("evaluation", args=[response.json()["id"]]))
    assert page.status_code == 200 and b"Reliability diagram" in page.content and b"always-correct" in page.content


def release_dir_of(release):
    from review.releases import release_dir

    return release_dir(release)


def test_pages_for_researchers_only(release, researcher, outsider, client):
    client.force_login(researcher)
    assert b"gsm8k-steps 1.0" in client.get(reverse("releases", args=[release.project.slug])).content
    page = client.get(reverse("release", args=[release.pk]))
    assert page.status_code == 200 and release.content_hash.encode() in page.content
    client.force_login(outsider)
    assert client.get(reverse("releases", args=[release.project.slug])).status_code == 404
    assert client.get(reverse("release", args=[release.pk])).status_code == 404
