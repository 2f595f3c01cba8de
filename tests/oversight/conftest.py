"""Oversight fixtures: a fake OpenAI-compatible server (real HTTP, tests/oversight/fake_server.py) and a backend
pointing at it, a project with chains whose steps carry known slips."""

import json

import pytest

from annotation.models import Chain, Role
from annotation.services import chains_import, membership_set, project_create
from oversight.models import ModelBackend
from oversight.services import policy_set
from tests.oversight.fake_server import FakeModelServer, Reply, step_number

CHAIN = {"id": "c1", "problem": "Tom has 17 boxes of 4 apples. How many apples?",
         "steps": ["Each box has 4 apples.", "So \\(17 \\times 4 = 58\\) apples.", "The answer is 58."],
         "final_answer": "58", "reference_answer": "68"}


@pytest.fixture
def model_server():
    with FakeModelServer() as server:
        yield server


def critic(wrong_steps=(2,), malformed_steps=()):
    """A script: 'incorrect' on the given 1-based steps (quoting the step's text), malformed JSON on others."""
    def script(request):
        n = step_number(request)
        if n in malformed_steps:
            return Reply(content='{"verdict": "incorrect", "confidence": ')  # cut off JSON
        if n in wrong_steps:
            return Reply(json={"verdict": "incorrect", "confidence": 0.8, "explanation": "17 × 4 is 68, not 58.",
                               "quote": "17 \\times 4 = 58"})
        return Reply(json={"verdict": "correct", "confidence": 0.9, "explanation": "Fine.", "quote": ""})
    return script


@pytest.fixture
def backend(model_server):
    return ModelBackend.objects.create(name="fake", base_url=model_server.base_url, model="fake-model",
                                       timeout_seconds=5, max_concurrency=4)


@pytest.fixture
def ov_project(db):
    project = project_create(slug="ov", name="Oversight")
    chains_import(project=project, data=json.dumps([CHAIN, {**CHAIN, "id": "c2"}]).encode(), fmt="stepwise",
                  filename="ov.json")
    return project


@pytest.fixture
def chain(ov_project):
    return Chain.objects.get(project=ov_project, source_id="c1")


@pytest.fixture
def assisted_policy(ov_project, backend):
    return policy_set(project=ov_project, passes={"symbolic": "on_demand", "critique": "on_demand",
                                                  "debate": "on_demand"},
                      assisted_share=1.0, backend_name=backend.name)


@pytest.fixture
def ov_annotator(make_user, ov_project):
    user = make_user("ov-ann")
    membership_set(project=ov_project, user=user, role=Role.ANNOTATOR)
    return user


@pytest.fixture
def ov_researcher(make_user, ov_project):
    user = make_user("ov-res")
    membership_set(project=ov_project, user=user, role=Role.RESEARCHER)
    return user
