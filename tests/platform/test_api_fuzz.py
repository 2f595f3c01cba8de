"""Fuzzing the API from its own OpenAPI schema (drf-spectacular's `/api/schema/`), with schemathesis, against
uvicorn in a subprocess on the test database: every operation, with requests that fit the schema and
requests that break it, as a project's staff user and as the annotator who owns the assignment.

Two properties, for every request: no 5xx (a bad request is a 4xx that says what was wrong), and a request
that is refused writes nothing (the domain tables are as they were; only the record of the refusal, an
import job marked failed and its audit row, may be added).

Bounded: `STEPWISE_FUZZ_SECONDS` (default 45 s) is shared out between the operations; each gets at most
`STEPWISE_FUZZ_EXAMPLES` requests that fit the schema and as many that do not. Cases are drawn from a
fixed seed so CI sees the same requests; `STEPWISE_FUZZ_SEED=<n>` explores other ones.
"""

import contextlib
import os
import time
from dataclasses import dataclass, field

import orjson
import pytest
import requests
import schemathesis
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from hypothesis import HealthCheck, Phase, given, seed, settings
from rest_framework.authtoken.models import Token
from schemathesis import GenerationMode

from annotation.models import Chain, Role
from annotation.services import (
    LabelInput,
    assignment_claim_next,
    assignment_labels_save,
    assignment_submit,
    chains_import,
    import_job_create,
    membership_set,
    project_create,
)
from oversight.models import Critique, ModelBackend, SymbolicCheck
from oversight.services import arm_draw, policy_set, run_request, runs_execute
from review.releases import release_build, release_create
from tests.oversight.conftest import critic
from tests.oversight.fake_server import FakeModelServer

pytestmark = pytest.mark.django_db(transaction=True)

BUDGET_SECONDS = float(os.environ.get("STEPWISE_FUZZ_SECONDS", "45"))
EXAMPLES = int(os.environ.get("STEPWISE_FUZZ_EXAMPLES", "25"))
SEED = int(os.environ.get("STEPWISE_FUZZ_SEED", "11"))

# Tables a refused request may add to: the record that it was refused (an import that failed is kept
# with its errors, and audited). Every other table must be exactly as before.
REFUSAL_RECORDS = {"annotation_importjob", "annotation_auditevent"}
# Not the application's state: logins and Django's own bookkeeping.
UNWATCHED = {"django_session", "django_migrations", "django_admin_log"}


@dataclass
class World:
    slug: str
    tokens: dict
    ids: dict = field(default_factory=dict)


def make_world(model_server) -> World:
    make = get_user_model().objects.create_user
    staff = get_user_model().objects.create_superuser(username="staff", password=None)
    annotator, annotator2, reviewer = make("annotator"), make("annotator2"), make("reviewer")
    project = project_create(slug="fuzz", name="Fuzz", overlap_k=2, guidelines="Rate every step.", created_by=staff)
    for user, role in ((annotator, Role.ANNOTATOR), (annotator2, Role.ANNOTATOR), (reviewer, Role.REVIEWER)):
        membership_set(project=project, user=user, role=role)
    rows = b"".join(orjson.dumps({"id": f"f{i}", "problem": f"What is {i} * 4?", "reference_answer": str(4 * i),
                                  "steps": [f"{i} * 4 = {4 * i + (i == 1)}.", f"The answer is {4 * i}."]}) + b"\n"
                    for i in range(4))
    chains_import(project=project, data=rows, filename="fuzz.jsonl")
    backend = ModelBackend.objects.create(name="fake", base_url=model_server.base_url, model="fake-model",
                                          timeout_seconds=5, max_concurrency=2)
    policy_set(project=project, passes={"symbolic": "on_demand", "critique": "on_demand", "debate": "on_demand"},
               assisted_share=1.0, backend_name=backend.name)
    # The annotator: one assignment submitted (to reopen), one in progress (to save, skip, submit).
    done = assignment_claim_next(project=project, user=annotator)
    steps = done.chain.step_count
    assignment_submit(assignment=done, user=annotator, finish_reason="solution", version=done.version,
                      labels=[LabelInput(i, 1) for i in range(steps)])
    assignment = assignment_claim_next(project=project, user=annotator)
    arm_draw(assignment=assignment)
    other = assignment_claim_next(project=project, user=annotator2)
    assignment_labels_save(assignment=other, user=annotator2, version=other.version, labels=[LabelInput(0, -1)])
    # Oversight results on the annotator's chain: a critique pass and a symbolic check.
    model_server.script = critic(wrong_steps=(1,))
    critique_run, _ = run_request(chain=assignment.chain, kind="critique", backend_name="fake")
    symbolic_run, _ = run_request(chain=assignment.chain, kind="symbolic")
    runs_execute(run_ids=[critique_run.pk, symbolic_run.pk])
    job = import_job_create(project=project, user=staff, upload=SimpleUploadedFile(
        "small.jsonl", b'{"id": "j1", "problem": "1 + 1?", "steps": ["1 + 1 = 2."]}\n'))
    release = release_build(release_id=release_create(
        project=project, user=staff, name="fuzz", version="1.0", formats=["prm800k", "trl-stepwise"],
        label_source="single", test_fraction=0.5, enqueue=False).pk)
    assert release.status == "done", release.error
    tokens = {name: Token.objects.get_or_create(user=user)[0].key
              for name, user in (("staff", staff), ("annotator", annotator))}
    return World(slug=project.slug, tokens=tokens, ids={
        "assignment": assignment.pk, "submitted": done.pk, "chain": assignment.chain.pk,
        "other_chain": Chain.objects.filter(project=project).exclude(pk=assignment.chain.pk).first().pk,
        "run": critique_run.pk, "critique": Critique.objects.filter(run=critique_run).first().pk,
        "check": SymbolicCheck.objects.filter(run=symbolic_run).first().pk, "job": job.pk,
        "release": release.pk, "release_file": release.manifest["files"][0]["path"]})


def identity_and_path(world: World, path: str) -> tuple[str, dict]:
    """Who calls an operation (its owner for an assignment's routes, else staff) and its path parameters,
    filled with objects of the world so that requests get past the lookup to the validation behind it."""
    ids = world.ids
    owner = path.startswith(("/api/assignments/", "/api/oversight/assignments/", "/api/oversight/critiques/",
                             "/api/oversight/checks/")) or path.endswith("/queue/next/")
    params = {"slug": world.slug, "username": "annotator2", "path": ids["release_file"]}
    if path.startswith("/api/assignments/{id}/reopen/"):
        params["id"] = ids["submitted"]
    elif path.startswith(("/api/assignments/", "/api/oversight/assignments/")):
        params["id"] = ids["assignment"]
    elif path.startswith("/api/oversight/critiques/"):
        params["id"] = ids["critique"]
    elif path.startswith("/api/oversight/checks/"):
        params["id"] = ids["check"]
    elif path.startswith("/api/oversight/runs/"):
        params["id"] = ids["run"]
    elif path.startswith(("/api/chains/", "/api/oversight/chains/")):
        params["id"] = ids["chain"]
    elif path.startswith("/api/imports/"):
        params["id"] = ids["job"]
    elif path.startswith("/api/releases/"):
        params["id"] = ids["release"]
    else:
        params["id"] = 987654  # an evaluation: none in the world; a 404 must be clean too
    return ("annotator" if owner else "staff"), params


def fingerprint() -> dict[str, str]:
    """An md5 of every application table's rows, in one query."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        tables = sorted(t for (t,) in cursor.fetchall() if t not in UNWATCHED)
        cursor.execute(" UNION ALL ".join(
            # The names come from pg_tables, not from any input.
            f"SELECT '{t}', md5(coalesce(string_agg(md5(r::text), '' ORDER BY md5(r::text)), '')) FROM \"{t}\" r"  # noqa: S608
            for t in tables))
        return dict(cursor.fetchall())


# Destructive operations last, so the others still find the world they were given.
LAST = ("DELETE", "/archive/", "/members/{username}/", "PATCH /api/projects/{slug}/")


def order(label: str) -> tuple[int, str]:
    return (sum(1 for mark in LAST if mark in label), label)


class OutOfTime(BaseException):
    """Ends an operation's run when its time is up (a BaseException: hypothesis lets it through unshrunk)."""


@dataclass
class Target:
    base_url: str
    session: requests.Session
    headers: dict
    until: float  # this run's share of the time budget ends here
    examples: int


def fuzz(label: str, strategy, target: Target, counts: dict, failures: list) -> None:
    """Send up to `target.examples` cases of the strategy while the run's time lasts; record what fails.
    Failures are recorded, not raised: hypothesis would spend the budget shrinking them."""

    @seed(SEED)
    @settings(max_examples=target.examples, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(case=strategy)
    def send(case):
        if time.monotonic() > target.until and counts.get(label):  # every operation gets a request
            raise OutOfTime
        before = fingerprint()
        response = case.call(base_url=target.base_url, session=target.session, headers=target.headers, timeout=30)
        counts[label] = counts.get(label, 0) + 1
        status = response.status_code
        where = f"{status} for {case.as_curl_command(headers=target.headers, base_url=target.base_url)}"
        if status >= 500:
            counts["5xx"] += 1
            failures.append(f"{where}\n  {response.text[:300]}")
            return
        counts["2xx" if status < 400 else "4xx"] += 1
        if status >= 400:
            changed = {t for t, h in fingerprint().items() if before.get(t) != h} - REFUSAL_RECORDS
            if changed:
                failures.append(f"{where}\n  refused, yet wrote to {sorted(changed)}: {response.text[:200]}")

    with contextlib.suppress(OutOfTime):
        send()


def runs(operations) -> list[tuple]:
    """(operation, generation mode, examples, share of the time) for every operation. One with nothing
    to vary (a GET by id: its path is fixed, it has no query or body) needs a request or two and no
    negative run (nothing could break the schema); the others share the time in both modes."""
    planned = []
    for operation in operations:
        if len(operation.query) or len(operation.body):
            planned += [(operation, GenerationMode.POSITIVE, EXAMPLES, 1.0),
                        (operation, GenerationMode.NEGATIVE, EXAMPLES, 1.0)]
        else:
            planned.append((operation, GenerationMode.POSITIVE, 2, 0.1))
    return planned


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "var" / "media"
    return tmp_path / "var"


@pytest.fixture
def clean_shared_state():
    """The fuzz fails logins on purpose (the token endpoint) and queues tasks with no worker to run them:
    neither may reach the tests after it, which share the cache and the broker."""
    from config.celery import app
    from config.throttle import throttle_reset

    throttle_reset()
    yield
    throttle_reset()
    app.control.purge()


def test_the_api_answers_every_generated_request_without_5xx_or_partial_writes(web_process, media,
                                                                                 clean_shared_state):
    with FakeModelServer() as model_server:
        world = make_world(model_server)
        seen = fingerprint()  # the check below must see a write: a new user is one
        get_user_model().objects.create_user(username="seen")
        assert {t for t, h in fingerprint().items() if seen[t] != h} == {"auth_user"}
        server = web_process(STEPWISE_VAR_DIR=str(media)).start()
        schema = schemathesis.openapi.from_url(f"{server.url}/api/schema/?format=json")
        operations = sorted((result.ok() for result in schema.get_all_operations()), key=lambda op: order(op.label))
        assert len(operations) > 50, [op.label for op in operations]
        session = requests.Session()
        failures: list[str] = []
        counts = {"5xx": 0, "4xx": 0, "2xx": 0}
        plan = runs(operations)
        left = sum(share for *_, share in plan)
        started = time.monotonic()
        for operation, mode, examples, share in plan:
            identity, path_parameters = identity_and_path(world, operation.path)
            # This run's part of what is left of the budget.
            remaining = BUDGET_SECONDS - (time.monotonic() - started)
            until = time.monotonic() + max(remaining, 0) * share / left
            left -= share
            strategy = operation.as_strategy(generation_mode=mode, path_parameters={
                p.name: path_parameters[p.name] for p in operation.path_parameters})
            target = Target(server.url, session, {"Authorization": f"Token {world.tokens[identity]}"}, until, examples)
            fuzz(operation.label, strategy, target, counts, failures)
        elapsed = time.monotonic() - started
        sent = counts["2xx"] + counts["4xx"] + counts["5xx"]
        print(f"\nfuzz: {sent} requests over {len(operations)} operations in {elapsed:.1f} s: "
              f"{counts['2xx']} 2xx, {counts['4xx']} 4xx, {counts['5xx']} 5xx")
        assert not failures, f"{len(failures)} of {sent} requests failed:\n" + "\n".join(failures[:20])
        unreached = [op.label for op in operations if not counts.get(op.label)]
        assert not unreached, f"no request was sent to {unreached} (raise STEPWISE_FUZZ_SECONDS)"
        assert counts["2xx"] > len(operations) // 2, counts  # not only refusals: the world was usable
