"""Set-up pages through Django's client: who sees them, a chain added by hand, refusals shown."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from annotation.models import Chain

PAGES = ["setup", "setup-guidelines", "setup-schema", "setup-members", "setup-import", "setup-chains"]


@pytest.mark.django_db
@pytest.mark.parametrize("name", PAGES)
def test_pages_for_managers_only(client, project, researcher, annotator, name):
    client.force_login(researcher)
    assert client.get(reverse(name, args=[project.slug])).status_code == 200
    client.force_login(annotator)  # a member who lacks the role: refused, not hidden (the house rule)
    assert client.get(reverse(name, args=[project.slug])).status_code == 403


@pytest.mark.django_db
def test_chain_by_hand_goes_through_preview_then_import(client, project, researcher):
    client.force_login(researcher)
    url = reverse("setup-import", args=[project.slug])
    page = client.post(url, {"action": "by-hand", "id": "hand-1", "problem": "What is $1+1$?",
                             "text": "One plus one.\nIs two.", "reference_answer": "2"})
    assert page.status_code == 200
    preview = page.context["preview"]
    assert preview["ok"] and preview["sample"][0]["steps"] == ["One plus one.", "Is two."]
    assert not Chain.objects.filter(project=project).exists()
    done = client.post(url, {"action": "import", "token": page.context["token"]})
    assert done.status_code == 302
    chain = Chain.objects.get(project=project, source_id="hand-1")
    assert chain.step_count == 2 and chain.problem.reference_answer == "2"
    # The preview's token is used up: a second import of it is refused, nothing added.
    again = client.post(url, {"action": "import", "token": page.context["token"]}, follow=True)
    assert "no longer available" in again.content.decode()
    assert Chain.objects.filter(project=project).count() == 1


@pytest.mark.django_db
def test_empty_upload_says_why(client, project, researcher):
    client.force_login(researcher)
    page = client.post(reverse("setup-import", args=[project.slug]),
                       {"action": "preview", "file": SimpleUploadedFile("empty.jsonl", b"")}, follow=True)
    assert "empty" in page.content.decode()


@pytest.mark.django_db
def test_new_project_needs_the_permission(client, make_user):
    user = make_user("plain")
    client.force_login(user)
    page = client.get(reverse("project-new"), follow=True)
    assert "may not create projects" in page.content.decode()


@pytest.mark.django_db
def test_step_editor_reword_merge_and_a_stale_page(client, project, researcher):
    from annotation.services import chains_import

    chains_import(project=project, data=b'{"id": "e", "problem": "p", "steps": ["one", "two", "three"]}')
    chain = Chain.objects.get(project=project, source_id="e")
    client.force_login(researcher)
    url = reverse("chain-steps", args=[chain.pk])
    assert client.get(url).status_code == 200
    client.post(url, {"op": "reword", "revision": 1, "index": 0, "text": "uno"})
    client.post(url, {"op": "merge", "revision": 2, "index": 1})
    chain.refresh_from_db()
    assert (chain.revision, chain.step_count) == (3, 2)
    # A page loaded at revision 1 edits nothing and says why.
    page = client.post(url, {"op": "delete", "revision": 1, "index": 0}, follow=True)
    assert "edited since you loaded it" in page.content.decode()
    chain.refresh_from_db()
    assert chain.revision == 3


@pytest.mark.django_db
def test_members_page_add_and_remove(client, project, researcher, make_user):
    make_user("joiner")
    client.force_login(researcher)
    url = reverse("setup-members", args=[project.slug])
    page = client.post(url, {"action": "add", "username": "joiner", "role": "annotator"}, follow=True)
    assert "joiner added as annotator" in page.content.decode()
    page = client.post(url, {"action": "remove", "username": "joiner"}, follow=True)
    assert "joiner removed" in page.content.decode()
    page = client.post(url, {"action": "remove", "username": "res"}, follow=True)
    assert "last researcher or admin" in page.content.decode()
