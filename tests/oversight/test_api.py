"""The oversight API: happy paths, invalid input, anonymous, outsider, the unassisted arm, a query-count pin."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from annotation.services import assignment_claim_next
from oversight.models import AssignmentArm, AssistanceRating, Critique, DebateVerdict, OversightRun
from oversight.services import run_request, runs_execute
from tests.oversight.conftest import critic

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def critiqued(chain, assisted_policy, model_server):
    model_server.script = critic(wrong_steps=(2,))
    run, _ = run_request(chain=chain, kind="critique", backend_name="fake")
    symbolic, _ = run_request(chain=chain, kind="symbolic")
    runs_execute(run_ids=[run.pk, symbolic.pk])
    return run


@pytest.fixture
def assignment(ov_project, ov_annotator, chain):
    return assignment_claim_next(project=ov_project, user=ov_annotator)


def test_assisted_assignment_reads_its_results(api_client, ov_annotator, assignment, critiqued):
    response = api_client(ov_annotator).get(f"/api/oversight/assignments/{assignment.pk}/")
    assert response.status_code == 200, response.content
    data = response.json()
    assert data["assisted"] and data["arm"] == "assisted" and data["chain"] == assignment.chain_id
    assert {r["kind"]: r["status"] for r in data["runs"]} == {"critique": "done", "symbolic": "done"}
    assert sorted(c["verdict"] for c in data["critiques"]) == ["correct", "correct", "incorrect"]
    assert [c["outcome"] for c in data["checks"]] == ["mismatch"]
    assert AssignmentArm.objects.get(assignment=assignment).arm == "assisted"


def test_query_count_does_not_grow_with_results(api_client, ov_annotator, assignment, critiqued):
    client = api_client(ov_annotator)
    client.get(f"/api/oversight/assignments/{assignment.pk}/")  # the arm is drawn
    with CaptureQueriesContext(connection) as queries:
        assert client.get(f"/api/oversight/assignments/{assignment.pk}/").status_code == 200
    assert len(queries) <= 12, [q["sql"] for q in queries]


def test_unassisted_arm_gets_nothing(api_client, ov_project, backend, ov_annotator, chain):
    from oversight.services import policy_set

    policy_set(project=ov_project, passes={"critique": "on_demand"}, assisted_share=0.0, backend_name="fake")
    run_request(chain=chain, kind="symbolic")
    assignment = assignment_claim_next(project=ov_project, user=ov_annotator)
    data = api_client(ov_annotator).get(f"/api/oversight/assignments/{assignment.pk}/").json()
    assert data["assisted"] is False and "critiques" not in data and "runs" not in data
    assert api_client(ov_annotator).get(f"/api/oversight/chains/{chain.pk}/").status_code == 404


def test_rating_a_critique(api_client, ov_annotator, assignment, critiqued):
    client = api_client(ov_annotator)
    client.get(f"/api/oversight/assignments/{assignment.pk}/")
    wrong = Critique.objects.get(run=critiqued, verdict="incorrect")
    url = f"/api/oversight/critiques/{wrong.pk}/rating/"
    assert client.post(url, {"assignment": assignment.pk, "rating": "nitpick"}, format="json").json() == {
        "rating": "nitpick", "dismissed": False}
    assert client.post(url, {"assignment": assignment.pk, "dismissed": True}, format="json").status_code == 200
    row = AssistanceRating.objects.get(critique=wrong)
    assert (row.rating, row.dismissed) == ("nitpick", True)  # the dismissal kept the rating
    bad = client.post(url, {"assignment": assignment.pk, "rating": "great"}, format="json")
    assert bad.status_code == 400 and "rating" in bad.json()
    assert client.post(url, {"assignment": assignment.pk}, format="json").status_code == 400


def test_anonymous_and_outsider(api_client, outsider, assignment, critiqued):
    wrong = Critique.objects.get(run=critiqued, verdict="incorrect")
    for client, codes in ((api_client(), {401, 403}), (api_client(outsider), {404})):
        assert client.get(f"/api/oversight/assignments/{assignment.pk}/").status_code in codes
        assert client.post(f"/api/oversight/critiques/{wrong.pk}/rating/", {"assignment": assignment.pk,
                           "rating": "helpful"}, format="json").status_code in codes
        assert client.get(f"/api/oversight/runs/{critiqued.pk}/").status_code in codes
        assert client.put("/api/oversight/projects/ov/policy/", {"assisted_share": 0.5},
                          format="json").status_code in codes
    assert not AssistanceRating.objects.exists()


def test_debate_start_and_person_verdict(api_client, ov_annotator, assignment, assisted_policy):
    client = api_client(ov_annotator)
    client.get(f"/api/oversight/assignments/{assignment.pk}/")
    started = client.post(f"/api/oversight/assignments/{assignment.pk}/debates/", {"step_index": 1}, format="json")
    assert started.status_code == 201 and started.json()["kind"] == "debate" and started.json()["stepKey"] == 1
    again = client.post(f"/api/oversight/assignments/{assignment.pk}/debates/", {"step_index": 1}, format="json")
    assert again.status_code == 200 and again.json()["id"] == started.json()["id"]  # cached
    assert client.post(f"/api/oversight/assignments/{assignment.pk}/debates/", {"step_index": 9},
                       format="json").status_code == 400
    run_id = started.json()["id"]
    verdict = client.post(f"/api/oversight/runs/{run_id}/verdict/", {"verdict": "incorrect", "credence": 0.7},
                          format="json")
    assert verdict.status_code == 200
    bad = client.post(f"/api/oversight/runs/{run_id}/verdict/", {"verdict": "incorrect", "credence": 0.2},
                      format="json")
    assert bad.status_code == 400 and "credence" in bad.json()
    assert DebateVerdict.objects.get(run_id=run_id, judge=ov_annotator).credence == 0.7


def test_policy_and_runs_for_researchers(api_client, ov_researcher, ov_annotator, backend):
    client = api_client(ov_researcher)
    put = client.put("/api/oversight/projects/ov/policy/", {"passes": {"critique": "on_import"},
                     "assisted_share": 0.5, "backend": "fake"}, format="json")
    assert put.status_code == 200 and put.json()["backend"] == "fake" and put.json()["assisted_share"] == 0.5
    bad = client.put("/api/oversight/projects/ov/policy/", {"passes": {"critique": "sometimes"}}, format="json")
    assert bad.status_code == 400 and "sometimes" in bad.json()["detail"] and bad.json()["field"] == "passes"
    created = client.post("/api/oversight/projects/ov/runs/", {"kind": "symbolic"}, format="json")
    assert created.status_code == 201 and len(created.json()["runs"]) == 2
    assert client.post("/api/oversight/projects/ov/runs/", {"kind": "symbolic", "chains": ["nope"]},
                       format="json").status_code == 400
    # Annotators do not manage passes (members: 403).
    assert api_client(ov_annotator).post("/api/oversight/projects/ov/runs/", {"kind": "symbolic"},
                                         format="json").status_code == 403
    assert OversightRun.objects.count() == 2


def test_backends_are_staff_only(api_client, ov_researcher, make_user):
    assert api_client(ov_researcher).get("/api/oversight/backends/").status_code == 403
    staff = make_user("staff", is_staff=True)
    client = api_client(staff)
    made = client.post("/api/oversight/backends/", {"name": "vllm-1", "base_url": "http://gpu-1:8000/v1",
                                                    "model": "Qwen/Qwen2.5-Math-7B-Instruct",
                                                    "api_key_env": "VLLM_KEY", "params": {"temperature": 0}},
                       format="json")
    assert made.status_code == 201 and made.json()["max_concurrency"] == 8
    bad = client.post("/api/oversight/backends/", {"name": "x", "base_url": "http://h/v1", "model": "m",
                                                   "params": {"logit_bias": 1}}, format="json")
    assert bad.status_code == 400 and "logit_bias" in bad.json()["detail"]
    assert [b["name"] for b in client.get("/api/oversight/backends/").json()] == ["vllm-1"]


def test_the_project_page_shows_the_report(client, ov_researcher, ov_annotator, critiqued):
    client.force_login(ov_researcher)
    page = client.get("/projects/ov/oversight/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Passes use <strong>fake</strong>" in html and "critique:fake" in html
    assert 'id="ov-arms"' in html and "assisted" in html
    assert "/projects/ov/oversight/" in client.get("/projects/ov/").content.decode()
    client.force_login(ov_annotator)
    assert client.get("/projects/ov/oversight/").status_code == 403  # a member without the role
