"""Shared fixtures: persona users, a project, API clients logged in through the session."""

from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from annotation.models import Role
from annotation.services import chains_import, membership_set, project_create

ROOT = Path(__file__).resolve().parent.parent
DEMO_DATA = ROOT / "annotation" / "demo"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
PASSWORD = "correct horse battery staple"

# Browser fixtures (`browser`, `page`, `asgi_server`) and their helpers live in tests/browser.py.
pytest_plugins = ["tests.browser", "tests.processes"]


@pytest.fixture
def make_user(db):
    def make(username: str, **extra):
        return get_user_model().objects.create_user(username=username, password=PASSWORD, **extra)

    return make


@pytest.fixture
def project(db):
    return project_create(slug="gsm8k", name="GSM8K excerpt", overlap_k=2, guidelines="Rate **every** step.")


def _member(make_user, project, username, role):
    user = make_user(username)
    membership_set(project=project, user=user, role=role)
    return user


@pytest.fixture
def annotator(make_user, project):
    return _member(make_user, project, "ann1", Role.ANNOTATOR)


@pytest.fixture
def annotator2(make_user, project):
    return _member(make_user, project, "ann2", Role.ANNOTATOR)


@pytest.fixture
def reviewer(make_user, project):
    return _member(make_user, project, "rev", Role.REVIEWER)


@pytest.fixture
def researcher(make_user, project):
    return _member(make_user, project, "res", Role.RESEARCHER)


@pytest.fixture
def outsider(make_user):
    return make_user("outsider")


@pytest.fixture
def api_client():
    def client_for(user=None) -> APIClient:
        client = APIClient()
        if user is not None:
            client.force_login(user)  # a real session, through SessionAuthentication
        return client

    return client_for


@pytest.fixture
def gsm8k_bytes() -> bytes:
    return (DEMO_DATA / "processbench_gsm8k_excerpt.json").read_bytes()


@pytest.fixture
def imported(project, gsm8k_bytes):
    """The project with the 20-chain ProcessBench excerpt imported (with its expert labels)."""
    chains_import(project=project, data=gsm8k_bytes, filename="gsm8k_excerpt.json")
    return project


@pytest.fixture(scope="session", autouse=True)
def _end_stray_connections(django_db_setup, django_db_blocker):
    """Threads the tests start (Celery's test worker, Channels' sync executor) keep their own database
    connections, which pytest-django cannot close; end them so the test database can be dropped."""
    yield
    from django.db import connection

    with django_db_blocker.unblock():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                               "WHERE datname = current_database() AND pid <> pg_backend_pid()")
