"""The chain browser's filters, API and page: its own (model, status, flags, id, problem text) and those
review contributes (queue status, flags, agreement, α), on chains that went through the real annotation
and review services. Bad or unknown filters answer 400 naming what they accept, and list nothing."""

import pytest
import yaml
from django.db import connection
from django.urls import reverse

from annotation.chain_filters import chain_filters
from annotation.models import FinishReason
from annotation.services import (
    LabelInput,
    assignment_claim_next,
    assignment_labels_save,
    assignment_submit,
    chains_import,
)
from review.adjudication import FinalLabelInput, chain_adjudicate, review_queue_refresh

pytestmark = pytest.mark.django_db

PROBLEMS = ["How many Zebras cross the road?", "A triangle has sides 3, 4 and 5.", "Count the zebra stripes.",
            "What is 2 + 2?", "<script>alert(1)</script> is not a number"]


def _file() -> bytes:
    import orjson

    return b"\n".join(orjson.dumps({"id": f"c{i}", "problem": text, "steps": ["one", "two", "three"],
                                    "model": f"m{i % 2}"}) for i, text in enumerate(PROBLEMS))


def _annotate(project, user, ratings):
    assignment = assignment_claim_next(project=project, user=user)
    saved = assignment_labels_save(assignment=assignment, user=user, version=assignment.version,
                                   labels=[LabelInput(step=i, rating=r) for i, r in enumerate(ratings)])
    # A minute a chain: not "fast" under the default review policy (2 s a step).
    assignment_submit(assignment=saved, user=user, version=saved.version,
                      finish_reason=FinishReason.FOUND_ERROR if -1 in ratings else FinishReason.SOLUTION,
                      active_seconds=60)
    return assignment.chain


@pytest.fixture
def judged(project, annotator, annotator2):
    """c0: both annotators agree; c1: they split on step 1; c2: one pass (unjudged); c3, c4: untouched."""
    chains_import(project=project, data=_file(), filename="five.jsonl")
    agreed = _annotate(project, annotator, [1, 1, 1])
    assert _annotate(project, annotator2, [1, 1, 1]) == agreed
    split = _annotate(project, annotator, [1, 1, 1])
    assert _annotate(project, annotator2, [1, -1, 1]) == split
    single = _annotate(project, annotator, [1, 1, 1])
    review_queue_refresh(project=project)
    return {"agreed": agreed, "split": split, "single": single}


def ids(client, project, **params):
    response = client.get(reverse("api-chains", args=[project.slug]), params)
    assert response.status_code == 200, response.json()
    return [row["source_id"] for row in response.json()["results"]]


def test_review_filters_follow_the_queue(judged, project, researcher, reviewer, api_client):
    client = api_client(researcher)
    assert [c.source_id for c in (judged["agreed"], judged["split"], judged["single"])] == ["c0", "c1", "c2"]
    assert ids(client, project, review="clear") == ["c0"]
    assert ids(client, project, review="open") == ["c1"]
    assert ids(client, project, review="unjudged") == ["c2", "c3", "c4"]
    assert ids(client, project, review_flag="step_disagreement") == ["c1"]
    assert ids(client, project, review_flag="fast_annotation") == []
    assert ids(client, project, agreement="agreed") == ["c0"]
    assert ids(client, project, agreement="split") == ["c1"]
    # α of c0 is undefined (every label the same: perfect agreement), so it is never "below".
    assert ids(client, project, alpha_below=1) == ["c1"]
    assert ids(client, project, alpha_below=-1) == []
    # Filters combine (all must match), with the chain's own.
    assert ids(client, project, agreement="split", source_model="m1") == ["c1"]
    assert ids(client, project, agreement="split", source_model="m0") == []

    chain_adjudicate(chain=judged["split"], reviewer=reviewer, labels=[FinalLabelInput(step=1, rating=1)],
                     note="Step 1 is right: 3-4-5.")
    assert ids(client, project, review="resolved") == ["c1"]
    assert ids(client, project, review="open") == []


def test_problem_text_search_is_a_case_insensitive_contains(judged, project, researcher, api_client):
    client = api_client(researcher)
    assert ids(client, project, text="zebra") == ["c0", "c2"]
    assert ids(client, project, text="ZEBRAS") == ["c0"]
    assert ids(client, project, text="sides 3") == ["c1"]
    assert ids(client, project, text="100%") == []  # LIKE's wildcards are searched for, not obeyed
    assert ids(client, project, text="zebra", review="clear") == ["c0"]


@pytest.mark.parametrize(("params", "field", "says"), [
    ({"review": "pending"}, "review", "use one of open, resolved, rework, clear, unjudged"),
    ({"review_flag": "slow"}, "review_flag", "step_disagreement"),
    ({"agreement": "some"}, "agreement", "agreed, split"),
    ({"alpha_below": "2"}, "alpha_below", "less than or equal to 1"),
    ({"alpha_below": "high"}, "alpha_below", "valid number"),
    ({"status": "weird"}, "status", "use one of unstarted, open, full"),
    ({"flag": "golden"}, "flag", "gold, planted, screening, edited"),
    ({"text": "ab"}, "text", "at least 3 characters"),
    ({"agrement": "split"}, "agrement", "has no filter 'agrement'"),
])
def test_bad_filters_answer_400_naming_the_field_and_what_it_accepts(project, researcher, api_client, params,
                                                                      field, says):
    response = api_client(researcher).get(reverse("api-chains", args=[project.slug]), params)
    assert response.status_code == 400
    assert says in " ".join(response.json()[field])


def test_list_with_every_filter_is_one_query(judged, project, researcher, api_client,
                                             django_assert_max_num_queries):
    client = api_client(researcher)
    params = {"source_model": "m1", "status": "full", "q": "c", "text": "triangle", "review": "open",
              "review_flag": "step_disagreement", "agreement": "split", "alpha_below": 1}
    with django_assert_max_num_queries(5):  # session, user, project, membership, the list
        assert ids(client, project, **params) == ["c1"]


def test_schema_documents_every_filter(researcher, api_client):
    response = api_client(researcher).get("/api/schema/")
    operation = yaml.safe_load(response.content)["paths"]["/api/projects/{slug}/chains/"]["get"]
    params = {p["name"]: p for p in operation["parameters"]}
    assert {"source_model", "status", "flag", "q", "text", "after", *(s.name for s in chain_filters())} <= set(params)
    assert {"review", "review_flag", "agreement", "alpha_below"} <= set(params)
    assert "unjudged" in params["review"]["description"]


def test_page_filters_and_refuses_bad_values(judged, project, researcher, client):
    client.force_login(researcher)
    url = reverse("setup-chains", args=[project.slug])
    page = client.get(url, {"agreement": "split"}).content.decode()
    assert ">c1</a>" in page and ">c0</a>" not in page
    assert '<option value="split" selected>' in page
    page = client.get(url, {"review": "pending"}).content.decode()
    assert "is not a value of review" in page and "Nothing is listed until the filter is fixed" in page
    assert "</a></td>" not in page.split('id="chain-list"')[1]  # no rows
    page = client.get(url, {"text": "<script>"}).content.decode()
    assert ">c4</a>" in page and "<script>alert" not in page
    assert 'value="&lt;script&gt;"' in page


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the trigram index is PostgreSQL's")
def test_problem_search_can_use_the_trigram_index(judged, project):
    """The index's expression is the one Django's icontains writes: with scans of every row ruled out,
    PostgreSQL reads problems through it (were the expressions different, only a scan would be left)."""
    from django.test.utils import CaptureQueriesContext

    from annotation.selectors import chain_list_for_project

    with CaptureQueriesContext(connection) as run:
        assert [row["source_id"] for row in chain_list_for_project(project=project, text="zebra")] == ["c0", "c2"]
    with connection.cursor() as cursor:
        # No sequential scan, no index scan that filters every row, no per-chain lookup of its problem: what is
        # left to read problems is a bitmap scan, which needs an index that answers the condition.
        for setting in ("enable_seqscan", "enable_indexscan", "enable_nestloop"):
            cursor.execute(f"SET LOCAL {setting} = off")
        cursor.execute(f"EXPLAIN {run.captured_queries[-1]['sql']}")  # the selector's query, as it was sent
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "problem_statement_trgm_idx" in plan, plan
