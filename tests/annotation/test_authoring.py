"""Authoring services: projects (create, copy, settings, archive), guidelines versions, schema, members,
import preview."""

import pytest

from annotation.exceptions import Conflict, NotFound, PermissionDenied, ValidationFailed
from annotation.models import (
    Chain,
    ChainRevision,
    GuidelineVersion,
    ImportedLabelSet,
    Membership,
    Problem,
    Role,
)
from annotation.segmentation import split_steps
from annotation.services import (
    assignment_claim_next,
    can_create_projects,
    guidelines_publish,
    import_preview,
    member_add,
    membership_remove,
    membership_set,
    project_create,
    project_create_for_user,
    project_creator_set,
    project_schema_set,
    project_update,
)


@pytest.mark.django_db
class TestProjectCreate:
    def test_needs_the_site_permission_then_makes_the_creator_admin(self, make_user):
        alice = make_user("alice")
        assert not can_create_projects(alice)
        with pytest.raises(PermissionDenied, match="may not create projects"):
            project_create_for_user(user=alice, slug="mine")
        project_creator_set(user=alice, allowed=True)
        assert can_create_projects(alice)
        project = project_create_for_user(user=alice, slug="mine", name="Mine", guidelines="# Rules")
        assert Membership.objects.get(project=project, user=alice).role == Role.ADMIN
        assert project.guideline_version == 1
        assert GuidelineVersion.objects.get(project=project, number=1).text == "# Rules"

    def test_only_a_superuser_grants_it(self, make_user):
        alice, bob = make_user("alice"), make_user("bob")
        with pytest.raises(PermissionDenied):
            project_creator_set(user=alice, allowed=True, by=bob)

    def test_bad_slug_and_duplicate_are_refused_naming_the_field(self, make_user):
        with pytest.raises(ValidationFailed, match="not a valid slug") as bad:
            project_create(slug="Has Spaces")
        assert bad.value.field == "slug"
        project_create(slug="taken")
        with pytest.raises(ValidationFailed, match="already exists"):
            project_create(slug="taken")

    def test_copy_takes_settings_schema_and_guidelines_not_chains(self, make_user, imported, researcher):
        project_creator_set(user=researcher, allowed=True)
        project_schema_set(project=imported, schema={"mode": "full"})
        project_update(project=imported, claim_timeout_minutes=90, assignment_order="random")
        copy = project_create_for_user(user=researcher, slug="copy", copy_from=imported.slug)
        assert copy.overlap_k == imported.overlap_k == 2
        assert copy.schema["mode"] == "full" and copy.claim_timeout_minutes == 90
        assert copy.assignment_order == "random"
        assert copy.guidelines == imported.guidelines and copy.guideline_version == 1
        assert not Chain.objects.filter(project=copy).exists()

    def test_copy_needs_a_managing_role_in_the_source(self, make_user, project, annotator):
        project_creator_set(user=annotator, allowed=True)
        with pytest.raises(PermissionDenied):  # a member of the source, without a managing role
            project_create_for_user(user=annotator, slug="copy", copy_from=project.slug)


@pytest.mark.django_db
class TestSettingsAndSchema:
    @pytest.mark.parametrize(("values", "field"), [
        ({"overlap_k": 0}, "overlap_k"), ({"gold_share": 1.5}, "gold_share"),
        ({"assignment_order": "fastest"}, "assignment_order"), ({"segmentation": "words"}, "segmentation"),
        ({"claim_timeout_minutes": -1}, "claim_timeout_minutes"), ({"slug": "x"}, "slug"),
    ])
    def test_bad_settings_are_refused_and_change_nothing(self, project, values, field):
        with pytest.raises(ValidationFailed) as refused:
            project_update(project=project, **values)
        assert refused.value.field == field
        project.refresh_from_db()
        assert project.overlap_k == 2 and project.gold_share == 0

    def test_schema_custom_scale(self, project):
        scale = [{"value": -2, "name": "Wrong", "key": "a", "color": "#ff0000"},
                 {"value": 0, "name": "Meh", "key": "b", "color": "#888888"},
                 {"value": 2, "name": "Great", "key": "d", "color": "#00ff00"}]
        project_schema_set(project=project, schema={"scale": scale, "require": {"rationale": "negative"}})
        project.refresh_from_db()
        assert [level["name"] for level in project.schema["scale"]] == ["Wrong", "Meh", "Great"]
        assert project.ratings == (-2, 0, 2)

    @pytest.mark.parametrize(("schema", "field"), [
        ({"scale": [{"value": 1, "name": "A", "key": "1"}]}, "label_schema.scale"),
        ({"scale": [{"value": -1, "name": "A", "key": "j"}, {"value": 1, "name": "B", "key": "2"}]},
         "label_schema.scale[0].key"),
        ({"mode": "half"}, "label_schema.mode"),
        ({"colour": "red"}, "label_schema.colour"),
    ])
    def test_bad_schema_is_refused_naming_the_field(self, project, schema, field):
        with pytest.raises(ValidationFailed) as refused:
            project_schema_set(project=project, schema=schema)
        assert refused.value.field == field
        project.refresh_from_db()
        assert project.label_schema == {}


@pytest.mark.django_db
class TestGuidelines:
    def test_each_publish_is_a_version_and_claims_record_the_current_one(self, imported, annotator, researcher):
        first = assignment_claim_next(project=imported, user=annotator)
        assert first.guideline_version == 1
        version = guidelines_publish(project=imported, user=researcher, text="Rate $x^2$ carefully.", note="math")
        assert version.number == 2
        imported.refresh_from_db()
        assert imported.guideline_version == 2 and imported.guidelines == "Rate $x^2$ carefully."
        # The open assignment keeps the version it was shown.
        first.refresh_from_db()
        assert first.guideline_version == 1
        assert GuidelineVersion.objects.get(project=imported, number=1).text == "Rate **every** step."

    def test_unchanged_text_is_refused(self, project, researcher):
        with pytest.raises(ValidationFailed, match="already"):
            guidelines_publish(project=project, user=researcher, text=project.guidelines)


@pytest.mark.django_db
class TestMembers:
    def test_add_existing_and_create_account(self, project, researcher, make_user):
        make_user("existing")
        membership, password = member_add(project=project, by=researcher, username="existing", role="annotator")
        assert membership.role == "annotator" and password == ""
        membership, password = member_add(project=project, by=researcher, username="newbie", role="annotator",
                                          create=True)
        assert len(password) >= 12 and membership.user.check_password(password)

    def test_unknown_user_without_create_is_refused(self, project, researcher):
        with pytest.raises(ValidationFailed, match="No user 'ghost'"):
            member_add(project=project, by=researcher, username="ghost", role="annotator")

    def test_weak_password_is_refused_and_no_account_is_made(self, project, researcher):
        from django.contrib.auth import get_user_model

        with pytest.raises(ValidationFailed) as refused:
            member_add(project=project, by=researcher, username="weak", role="annotator", create=True,
                       password="123")
        assert refused.value.field == "password"
        assert not get_user_model().objects.filter(username="weak").exists()

    def test_researchers_cannot_make_admins_and_outsiders_cannot_add(self, project, researcher, outsider, make_user):
        make_user("x")
        with pytest.raises(PermissionDenied):
            member_add(project=project, by=researcher, username="x", role="admin")
        with pytest.raises(NotFound):
            member_add(project=project, by=outsider, username="x", role="annotator")

    def test_last_manager_cannot_be_removed(self, project, researcher):
        with pytest.raises(Conflict, match="last researcher or admin"):
            membership_remove(project=project, user=researcher)
        with pytest.raises(Conflict):
            membership_set(project=project, user=researcher, role="annotator")


GOOD = b'{"id": "a", "problem": "1+1?", "text": "Step 1: one plus one.\\nStep 2: two."}\n'


@pytest.mark.django_db
class TestImportPreview:
    def counts(self):
        return (Chain.objects.count(), Problem.objects.count(), ChainRevision.objects.count(),
                ImportedLabelSet.objects.count())

    def test_preview_shows_rows_split_and_counts_and_writes_nothing(self, project):
        before = self.counts()
        preview = import_preview(project=project, data=GOOD + b'{"id": "b", "problem": "q", "steps": ["s"]}\n',
                                 filename="two.jsonl")
        assert preview["ok"] and preview["errors"] == []
        assert preview["result"]["chains_created"] == 2
        assert preview["sample"][0]["steps"] == ["Step 1: one plus one.", "Step 2: two."]
        assert preview["sample"][0]["split_from_text"] is True
        assert self.counts() == before

    def test_malformed_file_lists_every_bad_line_and_writes_nothing(self, project):
        before = self.counts()
        bad = (GOOD + b'{"id": "b", "problem": "q"}\n'  # no steps
               + b'not json\n'
               + b'{"id": "c", "problem": "q", "steps": ["s"]}\n'
               + b'{"id": "a", "problem": "again", "steps": ["s"]}\n'  # repeated id
               + b'[1, 2]\n')
        preview = import_preview(project=project, data=bad, filename="bad.jsonl")
        assert not preview["ok"] and preview["result"] is None
        lines = sorted({e["line"] for e in preview["errors"]})
        assert lines == [2, 3, 5, 6], preview["errors"]
        assert all(e["message"] for e in preview["errors"])
        assert self.counts() == before

    def test_empty_file_says_so(self, project):
        with pytest.raises(ValidationFailed, match="empty"):
            import_preview(project=project, data=b"", filename="empty.jsonl")

    def test_preview_uses_the_projects_segmentation(self, project):
        project_update(project=project, segmentation="step_marker")
        preview = import_preview(project=project, data=GOOD, filename="one.jsonl")
        assert preview["sample"][0]["steps"] == ["one plus one.", "two."]


def test_sentence_segmentation_keeps_decimals_together():
    pieces = [s.text for s in split_steps("x is 3.5 here. So $y = 2$. Done!", "sentence")]
    assert pieces == ["x is 3.5 here.", "So $y = 2$.", "Done!"]
