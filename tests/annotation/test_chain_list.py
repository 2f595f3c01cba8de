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
    # session, user, project, membership, the list (and on PostgreSQL the text's probe of the problems)
    with django_assert_max_num_queries(6 if connection.vendor == "postgresql" else 5):
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
    PostgreSQL reads problems through it (were the expressions different, only a scan would be left). The
    selector's probe of the problems writes that condition (beside its project's, which on five rows the
    planner reads through the project's own index instead)."""
    import re

    from django.test.utils import CaptureQueriesContext

    from annotation.models import Problem
    from annotation.selectors import chain_list_for_project

    with CaptureQueriesContext(connection) as run:
        assert [row["source_id"] for row in chain_list_for_project(project=project, text="zebra")] == ["c0", "c2"]
        assert len(list(Problem.objects.filter(statement__icontains="zebra").values_list("id", flat=True))) == 2
    probe = next(q["sql"] for q in run.captured_queries if 'FROM "annotation_problem"' in q["sql"])
    text_only = run.captured_queries[-1]["sql"]
    condition = re.search(r'UPPER\("annotation_problem"\."statement"::text\) LIKE UPPER\([^)]*\)', text_only)
    assert condition and condition.group(0) in probe, (text_only, probe)
    with connection.cursor() as cursor:
        # No sequential scan, no index scan that filters every row, no per-chain lookup of its problem: what is
        # left to read problems is a bitmap scan, which needs an index that answers the condition.
        for setting in ("enable_seqscan", "enable_indexscan", "enable_nestloop"):
            cursor.execute(f"SET LOCAL {setting} = off")
        cursor.execute(f"EXPLAIN {text_only}")
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "problem_statement_trgm_idx" in plan, plan


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the probe and the id-order walk are PostgreSQL's")
@pytest.mark.parametrize("text", ["zebra", "triangle", "2 + 2", "qxqxq", "<script>"])
def test_a_common_text_walked_in_id_order_lists_what_the_ids_path_lists(judged, project, monkeypatch, text):
    """The two plans of a contains-search give the same rows, with and without other filters, page after
    page; and the walk's planner settings do not outlive it inside the caller's transaction."""
    from django.db import transaction

    from annotation import selectors

    def listing(**kw):
        rows, after = [], None
        while True:
            page = selectors.chain_list_for_project(project=project, text=text, after=after, limit=2, **kw)
            rows += [row["source_id"] for row in page]
            if len(page) < 2:
                return rows
            after = page[-1]["id"]

    expected = [f"c{i}" for i, problem in enumerate(PROBLEMS) if text.upper() in problem.upper()]
    by_ids = listing(), listing(source_model="m0")
    monkeypatch.setattr(selectors, "TEXT_PROBE", 0)  # every text is "common": the walk
    with transaction.atomic(), connection.cursor() as cursor:
        walked = listing(), listing(source_model="m0")
        cursor.execute("SHOW enable_seqscan")
        assert cursor.fetchone()[0] == "on"
        cursor.execute("SHOW max_parallel_workers_per_gather")
        assert cursor.fetchone()[0] != "0"
    assert by_ids == walked
    assert by_ids[0] == expected
    assert by_ids[1] == [c for c in expected if int(c[1:]) % 2 == 0]


SQLITE_RUN = """
import json, django
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
from django.db import connection
from annotation.models import Chain
from annotation.selectors import chain_list_for_project
from annotation.services import chains_import, project_create
from review.quality_models import ReviewItem
project = project_create(slug="sq", name="SQLite", overlap_k=2)
chains_import(project=project, fmt="stepwise", data=b'{"id":"a","problem":"Zebra one","steps":["x"]}\\n'
              b'{"id":"b","problem":"two","steps":["y"]}\\n{"id":"c","problem":"three zebras","steps":["z"]}\\n')
pk = dict(Chain.objects.values_list("source_id", "pk"))
ReviewItem.objects.create(chain_id=pk["a"], project=project, status="open", judged_submissions=2,
                          reasons=["step_disagreement", "fast_annotation"], detail={"contested": [0], "alpha": 0.1})
ReviewItem.objects.create(chain_id=pk["b"], project=project, status="clear", judged_submissions=2, reasons=[],
                          detail={"contested": [], "alpha": None})
ids = lambda **kw: [row["source_id"] for row in chain_list_for_project(project=project, **kw)]
print(json.dumps({"vendor": connection.vendor, "text": ids(text="zebra"),
                  "fast": ids(contributed={"review_flag": "fast_annotation"}),
                  "low_alpha": ids(contributed={"review_flag": "low_alpha"}),
                  "agreed": ids(contributed={"agreement": "agreed"}), "split": ids(contributed={"agreement": "split"}),
                  "alpha": ids(contributed={"alpha_below": 1.0}), "unjudged": ids(contributed={"review": "unjudged"})}))
"""


@pytest.mark.django_db(databases=[])
def test_filters_work_on_the_embedded_sqlite_default(tmp_path):
    """Migration 0008 leaves SQLite alone, and every filter has a form SQLite runs (no jsonb containment)."""
    from tests.processes import run_on_embedded_sqlite

    found = run_on_embedded_sqlite(SQLITE_RUN, tmp_path)
    assert found == {"vendor": "sqlite", "text": ["a", "c"], "fast": ["a"], "low_alpha": [], "agreed": ["b"],
                     "split": ["a"], "alpha": ["a"], "unjudged": ["c"]}
