"""manage.py project: the verbs, and their refusals (CommandError naming what to fix, nothing changed)."""

import json

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from annotation.models import GuidelineVersion, Membership, Project
from annotation.services import can_create_projects


def run(*args) -> str:
    from io import StringIO

    out = StringIO()
    call_command("project", *args, stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_create_set_schema_guidelines_members(tmp_path):
    guidelines = tmp_path / "g.md"
    guidelines.write_text("# Rules\nRate each step.")
    assert "version 1" in run("create", "cmd", "--name", "From the shell", "--guidelines", str(guidelines))
    run("set", "cmd", "--overlap-k", "3", "--order", "priority", "--claim-timeout", "45", "--hide-reference-answer")
    project = Project.objects.get(slug="cmd")
    assert (project.overlap_k, project.assignment_order, project.claim_timeout_minutes,
            project.show_reference_answer) == (3, "priority", 45, False)
    schema = tmp_path / "s.json"
    schema.write_text(json.dumps({"mode": "full"}))
    run("schema", "cmd", str(schema))
    guidelines.write_text("# Rules v2")
    assert "version 2" in run("guidelines", "cmd", str(guidelines), "--note", "shorter")
    assert GuidelineVersion.objects.filter(project=project).count() == 2
    out = run("member", "add", "cmd", "newann", "annotator", "--create")
    assert "password (shown once)" in out
    assert Membership.objects.get(project=project, user__username="newann").role == "annotator"
    assert "newann" in run("members", "cmd")
    assert "0 open assignment(s) released" in run("member", "remove", "cmd", "newann")


@pytest.mark.django_db
def test_refusals_say_what_to_fix(tmp_path):
    with pytest.raises(CommandError, match="No project 'nope'"):
        run("set", "nope", "--overlap-k", "2")
    run("create", "cmd")
    with pytest.raises(CommandError, match="overlap_k"):
        run("set", "cmd", "--overlap-k", "0")
    bad = tmp_path / "bad.json"
    bad.write_text('{"mode": "half"}')
    with pytest.raises(CommandError, match="label_schema.mode"):
        run("schema", "cmd", str(bad))
    with pytest.raises(CommandError, match="No user 'ghost'"):
        run("member", "add", "cmd", "ghost", "annotator")


@pytest.mark.django_db
def test_grant_create():
    user = get_user_model().objects.create_user("maker", password="x-long-enough-123")
    run("grant-create", "maker")
    assert can_create_projects(get_user_model().objects.get(pk=user.pk))
    run("grant-create", "maker", "--revoke")
    assert not can_create_projects(get_user_model().objects.get(pk=user.pk))
