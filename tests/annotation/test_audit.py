"""The audit log: imports, submissions, role changes and project creation are recorded in the action's own
transaction; rows cannot be changed or deleted; project admins read it through the API."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import DatabaseError, connection, transaction
from django.urls import reverse

from annotation.models import AuditEvent, Role
from annotation.services import (
    LabelInput,
    assignment_claim_next,
    assignment_submit,
    import_job_create,
    membership_set,
    project_create,
)

ROWS = b'{"id": "a1", "problem": "1 + 1?", "steps": ["1 + 1 = 2.", "So 2."]}\n'


def actions(project=None):
    events = AuditEvent.objects.order_by("id")
    if project is not None:
        events = events.filter(project_id=project.pk)
    return [e.action for e in events]


@pytest.mark.django_db
def test_role_changes_imports_and_submissions_are_recorded(project, make_user, researcher, annotator):
    admin = make_user("boss")
    membership_set(project=project, user=admin, role=Role.REVIEWER, by=researcher)
    membership_set(project=project, user=admin, role=Role.REVIEWER, by=researcher)  # no change: no event
    job = import_job_create(project=project, user=researcher, upload=SimpleUploadedFile("a.jsonl", ROWS))
    assignment = assignment_claim_next(project=project, user=annotator)
    assignment_submit(assignment=assignment, user=annotator, finish_reason="solution", version=assignment.version,
                      labels=[LabelInput(step=0, rating=1), LabelInput(step=1, rating=1)])
    assert actions(project) == ["project.created", "membership.set", "membership.set", "membership.set",
                                "import.done", "assignment.submitted"]
    role = AuditEvent.objects.filter(action="membership.set", detail__user="boss").get()
    assert (role.actor_name, role.detail["role"], role.detail["before"]) == ("res", "reviewer", None)
    imported = AuditEvent.objects.get(action="import.done")
    assert imported.object_id == str(job.pk) and imported.detail["chains_created"] == 1
    assert imported.actor_name == "res" and imported.project_slug == project.slug
    submitted = AuditEvent.objects.get(action="assignment.submitted")
    assert submitted.detail["finish_reason"] == "solution" and submitted.actor_name == "ann1"


@pytest.mark.django_db
def test_a_refused_import_is_recorded_as_failed(project, researcher):
    import_job_create(project=project, user=researcher, upload=SimpleUploadedFile("bad.jsonl", b'{"id": 1}\n'))
    event = AuditEvent.objects.get(action="import.failed")
    assert event.detail["errors"] >= 1 and event.detail["filename"] == "bad.jsonl"


@pytest.mark.django_db
def test_an_action_that_rolls_back_leaves_no_event(make_user):
    with pytest.raises(RuntimeError), transaction.atomic():
        project_create(slug="gone", name="Gone")
        raise RuntimeError("the action failed after its audit row")
    assert not AuditEvent.objects.filter(project_slug="gone").exists()


@pytest.mark.django_db
def test_the_log_is_append_only_in_postgresql(project):
    if connection.vendor != "postgresql":
        pytest.skip("the trigger is PostgreSQL's")
    event = AuditEvent.objects.first()
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).update(action="rewritten")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).delete()
    assert AuditEvent.objects.get(pk=event.pk).action == "project.created"


@pytest.mark.django_db
def test_project_admins_read_the_log_others_do_not(project, make_user, researcher, annotator, outsider, api_client):
    admin = make_user("boss")
    membership_set(project=project, user=admin, role=Role.ADMIN)
    url = reverse("api-project-audit", args=[project.slug])
    body = api_client(admin).get(url).json()
    assert body["count"] >= 3 and body["results"][0]["action"] == "membership.set"
    assert body["results"][0]["detail"]["user"] == "boss"
    assert api_client(researcher).get(url).status_code == 403
    assert api_client(annotator).get(url).status_code == 403
    assert api_client(outsider).get(url).status_code == 404
    assert api_client().get(url).status_code == 401


@pytest.mark.django_db
def test_admin_site_role_changes_go_through_the_service(client, project, make_user, annotator):
    staff = make_user("staff", is_staff=True, is_superuser=True)
    client.force_login(staff)
    membership = annotator.memberships.get()
    response = client.post(reverse("admin:annotation_membership_change", args=[membership.pk]),
                           {"user": annotator.pk, "project": project.pk, "role": "reviewer"})
    assert response.status_code == 302
    event = AuditEvent.objects.filter(action="membership.set").last()
    assert (event.actor_name, event.detail["role"], event.detail["before"]) == ("staff", "reviewer", "annotator")
    assert client.get(reverse("admin:annotation_auditevent_changelist")).status_code == 200
    assert client.get(reverse("admin:annotation_auditevent_add")).status_code == 403
