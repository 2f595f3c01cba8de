"""Step revisions: edits reuse unchanged steps, labels keep pointing at the text they judged."""

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from hypothesis import given, settings
from hypothesis import strategies as st

from annotation import steps as step_store
from annotation.exceptions import Conflict, ValidationFailed
from annotation.models import Chain, ChainRevision, StepLabel
from annotation.selectors import assignment_labels, assignment_steps, chain_steps
from annotation.services import (
    LabelInput,
    assignment_claim_next,
    assignment_labels_save,
    assignment_submit,
    chain_resegment,
    chain_step_delete,
    chain_step_insert,
    chain_step_reword,
    chain_step_split,
    chain_steps_merge,
    chains_import,
)
from review.selectors import export_rows

STEPS = ["We have 3 apples.", "We buy 4 more, so 3 + 4 = 8.", "So the answer is 8."]


@pytest.fixture
def chain(project):
    chains_import(project=project, data=json.dumps({"id": "apples", "problem": "How many apples?",
                                                    "steps": STEPS}).encode())
    return Chain.objects.get(source_id="apples")


def texts(chain):
    return chain_steps(chain=chain).texts


@pytest.mark.django_db
def test_split_reuses_every_other_step_and_writes_one_revision(chain, researcher):
    before = chain_steps(chain=chain)
    chain_step_split(chain=chain, user=researcher, revision=1, index=1, at=len("We buy 4 more,"))
    after = chain_steps(chain=chain)
    assert after.texts == [STEPS[0], "We buy 4 more,", "so 3 + 4 = 8.", STEPS[2]]
    assert after.keys[0] == before.keys[0] and after.keys[-1] == before.keys[-1]
    assert after.keys[1:3] == [3, 4]  # new keys, never reused
    assert ChainRevision.objects.filter(chain=chain).count() == 2 and chain.revision == 2
    assert chain_steps(chain=chain, revision=1).texts == STEPS  # the old revision is still there


@pytest.mark.django_db
def test_merge_reword_insert_delete(chain, researcher):
    chain_steps_merge(chain=chain, user=researcher, revision=1, index=0)
    assert texts(chain) == [f"{STEPS[0]} {STEPS[1]}", STEPS[2]]
    chain_step_reword(chain=chain, user=researcher, revision=2, index=1, text="So the answer is 7.")
    chain_step_insert(chain=chain, user=researcher, revision=3, index=1, text="Check: 3 + 4 = 7.")
    chain_step_delete(chain=chain, user=researcher, revision=4, index=0)
    assert texts(chain) == ["Check: 3 + 4 = 7.", "So the answer is 7."]
    assert [r.kind for r in ChainRevision.objects.filter(chain=chain).order_by("number")] == [
        "import", "merge", "reword", "insert", "delete"]
    chain_resegment(chain=chain, user=researcher, revision=5, mode="newline")
    assert texts(chain) == ["Check: 3 + 4 = 7.", "So the answer is 7."] and chain.revision == 6


@pytest.mark.django_db
def test_an_edit_of_a_stale_revision_is_a_conflict_and_bad_edits_are_refused(chain, researcher):
    chain_step_reword(chain=chain, user=researcher, revision=1, index=2, text="So 7.")
    with pytest.raises(Conflict, match="revision 2"):
        chain_step_reword(chain=chain, user=researcher, revision=1, index=2, text="So 7!")
    with pytest.raises(ValidationFailed, match="empty"):
        chain_step_reword(chain=chain, user=researcher, revision=2, index=0, text="  ")
    with pytest.raises(ValidationFailed, match="not a step"):
        chain_step_split(chain=chain, user=researcher, revision=2, index=9, at=2)
    with pytest.raises(ValidationFailed, match="at least one step"):
        for _ in range(3):
            chain_step_delete(chain=chain, user=researcher, revision=chain.revision, index=0)
    assert chain.revision == 4 and len(texts(chain)) == 1


@pytest.mark.django_db
def test_labels_on_unchanged_steps_follow_them_and_old_labels_keep_their_text(chain, project, annotator, researcher):
    a = assignment_claim_next(project=project, user=annotator)
    saved = assignment_labels_save(assignment=a, user=annotator, version=a.version, labels=[
        LabelInput(0, 1, rationale="given"), LabelInput(1, -1, correction="3 + 4 = 7."), LabelInput(2, 1)])
    chain_step_split(chain=chain, user=researcher, revision=1, index=1, at=len("We buy 4 more,"))
    # the annotator's assignment stays on the revision they saw
    a.refresh_from_db()
    assert a.revision == 1 and [x["step"] for x in assignment_labels(assignment=a, steps=assignment_steps(assignment=a))] == [0, 1, 2]
    # the label on the split step judged the old text, by key
    old = StepLabel.objects.get(assignment=a, step_key=1)
    assert step_store.texts_of(list(_stored(chain)), [old.step_key]) == [STEPS[1]]
    assignment_submit(assignment=a, user=annotator, finish_reason="found_error", version=saved.version)
    # in the export (current revision) the unchanged steps carry their labels; the new ones have none yet
    [prm] = [r for r in export_rows(project=project, fmt="prm800k") if r["labeler"] == "ann1"]
    steps = prm["label"]["steps"]
    assert steps[0]["completions"][0] == {"text": STEPS[0], "rating": 1, "flagged": None}
    assert steps[1]["completions"][0]["text"] == "We buy 4 more," and steps[1]["completions"][0]["rating"] is None


def _stored(chain):
    from annotation.selectors import stored_revisions

    return stored_revisions(chain_id=chain.pk)


@pytest.mark.django_db
def test_an_export_after_a_split_writes_the_new_steps_with_their_labels(chain, project, annotator, annotator2,
                                                                      researcher):
    chain_step_split(chain=chain, user=researcher, revision=1, index=1, at=len("We buy 4 more,"))
    a = assignment_claim_next(project=project, user=annotator)
    assert a.revision == 2
    saved = assignment_labels_save(assignment=a, user=annotator, version=a.version,
                                   labels=[LabelInput(0, 1), LabelInput(1, 1), LabelInput(2, -1)])
    assignment_submit(assignment=a, user=annotator, finish_reason="found_error", version=saved.version)
    [pb] = export_rows(project=project, fmt="processbench")
    assert pb["steps"] == [STEPS[0], "We buy 4 more,", "so 3 + 4 = 8.", STEPS[2]] and pb["label"] == 2
    [trl] = export_rows(project=project, fmt="trl-stepwise")
    assert trl["completions"] == pb["steps"][:3] and trl["labels"] == [True, True, False]


@pytest.mark.django_db
def test_imported_reference_labels_follow_unchanged_steps_after_an_edit(project, researcher):
    chains_import(project=project, data=json.dumps({"id": "pb", "generator": "m", "problem": "p",
                                                    "steps": ["a", "b", "c", "d"], "label": 3}).encode())
    chain = Chain.objects.get(source_id="pb")
    chain_step_insert(chain=chain, user=researcher, revision=1, index=0, text="new first step")
    [pb] = export_rows(project=project, fmt="processbench")
    # the wrong step (d, now at index 4) is still the first -1; the inserted step has no label, so the
    # consensus reads it as unrated and processbench's first error stays on d
    assert pb["steps"] == ["new first step", "a", "b", "c", "d"] and pb["label"] == 4


@pytest.mark.django_db
def test_a_one_step_split_of_an_8000_step_chain_writes_two_rows(project, researcher):
    steps = [f"step {i} with \\(x^{i}\\) in it" for i in range(8000)]
    chains_import(project=project, data=json.dumps({"id": "big", "problem": "p", "steps": steps}).encode())
    chain = Chain.objects.get(source_id="big")
    with CaptureQueriesContext(connection) as queries:
        chain_step_split(chain=chain, user=researcher, revision=1, index=5000, at=4)
    writes = [q["sql"] for q in queries if q["sql"].lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))]
    assert len(writes) == 2, writes  # the revision, the chain's counters
    after = texts(chain)
    assert len(after) == 8001 and after[5000:5002] == ["step", "5000 with \\(x^5000\\) in it"]
    assert after[:5000] == steps[:5000] and after[5002:] == steps[5001:]


@pytest.mark.django_db
def test_the_edit_api_is_for_researchers_only(chain, project, researcher, annotator, outsider, api_client):
    url = reverse("api-chain-edits", args=[chain.pk])
    body = {"op": "split", "revision": 1, "index": 0, "at": 7}
    assert api_client(annotator).post(url, body, format="json").status_code == 403
    assert api_client(outsider).post(url, body, format="json").status_code == 404
    assert api_client().post(url, body, format="json").status_code in (401, 403)
    response = api_client(researcher).post(url, body, format="json")
    assert response.status_code == 201 and response.json()["revision"] == 2
    assert [s["text"] for s in response.json()["steps"]][:2] == ["We have", "3 apples."]
    stale = api_client(researcher).post(url, body, format="json")
    assert stale.status_code == 409 and "reload" in stale.json()["detail"]
    history = api_client(researcher).get(reverse("api-chain", args=[chain.pk])).json()["revisions"]
    assert [h["kind"] for h in history] == ["split", "import"] and history[0]["created_by__username"] == "res"


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(min_size=1, max_size=20).filter(str.strip), min_size=1, max_size=12),
       st.lists(st.tuples(st.integers(0, 11), st.integers(0, 3), st.lists(st.text(min_size=1, max_size=8)
                                                                           .filter(str.strip), max_size=3)),
                max_size=6))
def test_edits_keep_every_untouched_key_and_assemble_to_the_edited_list(initial, edits):
    """Pure: a sequence of edits applied to packed revisions gives the same texts as editing a list."""
    revisions = [step_store.StoredRevision(1, None, len(initial), 0, len(initial), step_store.pack_texts(initial))]
    expected, keys, next_key = list(initial), list(range(len(initial))), len(initial)
    for number, (start, width, new) in enumerate(edits, start=2):
        start = min(start, len(keys))
        stop = min(start + width, len(keys))
        edit = step_store.Edit(start, stop, tuple(new))
        order, new_keys = step_store.apply_edit(keys, edit, next_key)
        if not order:
            continue
        untouched = set(keys[:start] + keys[stop:])
        assert untouched <= set(order) and not set(new_keys) & set(keys)
        revisions.append(step_store.StoredRevision(number, step_store.pack_keys(order), len(order), next_key,
                                                   len(new_keys), step_store.pack_texts(new) if new else None))
        expected[start:stop] = new
        keys, next_key = order, next_key + len(new_keys)
        assembled = step_store.assemble(revisions, number)
        assert assembled.texts == expected and assembled.keys == keys
