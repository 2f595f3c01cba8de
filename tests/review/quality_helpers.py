"""Shared set-up for quality-control tests: a project where three annotators label the same chains."""

import uuid

import orjson
import pytest

from annotation.models import Chain, Role
from annotation.services import (
    LabelInput,
    assignment_claim_next,
    assignment_submit,
    chains_import,
    membership_set,
    project_create,
)

CHAINS = [
    {"id": "c1", "problem": "What is 2 + 3 * 4?", "steps": ["3 * 4 = 12", "2 + 12 = 14", "The answer is 14."],
     "answer": "14"},
    {"id": "c2", "problem": "What is 6 * 7?", "steps": ["6 * 7 = 42", "The answer is 42."], "answer": "42"},
]


def make_project(make_user, *, slug="qc", k=3, annotators=("ann1", "ann2", "ann3"), reviewers=("rev",)):
    project = project_create(slug=slug, name="Quality control", overlap_k=k)
    users = {}
    for name in annotators:
        users[name] = make_user(name)
        membership_set(project=project, user=users[name], role=Role.ANNOTATOR)
    for name in reviewers:
        users[name] = make_user(name)
        membership_set(project=project, user=users[name], role=Role.REVIEWER)
    users["res"] = make_user("res")
    membership_set(project=project, user=users["res"], role=Role.RESEARCHER)
    data = b"\n".join(orjson.dumps(c) for c in CHAINS)
    chains_import(project=project, data=data, filename="qc.jsonl")
    return project, users


def annotate(project, user, ratings, *, seconds=120, chain=None):
    """Claim the user's next chain (or check it is `chain`) and submit these ratings, one per step."""
    assignment = assignment_claim_next(project=project, user=user)
    if chain is not None:
        assert assignment.chain.source_id == chain, (assignment.chain.source_id, chain)
    finish = "found_error" if -1 in ratings else "solution"
    return assignment_submit(assignment=assignment, user=user, finish_reason=finish, version=assignment.version,
                             labels=[LabelInput(i, r) for i, r in enumerate(ratings)], active_seconds=seconds)


def chain(project, source_id):
    return Chain.objects.get(project=project, source_id=source_id)


@pytest.fixture(autouse=True)
def local_cache(settings):
    """The dashboard's figures are cached by project id: a fresh in-process cache per test, so no test (or
    earlier session, whose ids repeat) sees another's figures. Autouse in every module that imports it."""
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache",
                                   "LOCATION": f"review-quality-{uuid.uuid4().hex}"}}
    # Each test makes five or six users; the production hasher costs ~0.3 s per user on a loaded machine.
    # (Not for browser tests: daphne, another process, checks passwords with the real hashers.)
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
