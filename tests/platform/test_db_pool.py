"""daphne with a connection pool (DB_POOL_MAX_SIZE, production's setting): many annotators saving at once
all succeed, through at most the pool's connections, where a connection per request thread used to run
PostgreSQL out of clients under ASGI."""

import json
import threading
import urllib.request

import pytest
from django.db import connection

from annotation.models import Assignment, Role
from annotation.services import assignment_claim_next, membership_set
from tests.browser import SERVER_APP_NAME, SERVER_POOL_SIZE

pytestmark = pytest.mark.django_db(transaction=True)

ANNOTATORS = 12
SAVES_EACH = 6


def call(url: str, *, token: str | None = None, body: dict | None = None, method: str = "GET") -> dict:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Token {token}"
    request = urllib.request.Request(url, data=json.dumps(body).encode() if body is not None else None,
                                     headers=headers, method=method)
    with urllib.request.urlopen(request, timeout=30) as reply:  # noqa: S310 (loopback)
        return json.loads(reply.read())


def server_connections() -> int:
    with connection.cursor() as cursor:
        # Only the server's: the suite's workers and other servers use the same database.
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND application_name = %s",
                       [SERVER_APP_NAME])
        return cursor.fetchone()[0]


def test_concurrent_saves_through_the_pool_all_land(asgi_server, imported, make_user):
    from rest_framework.authtoken.models import Token

    project = imported
    seats = []
    for i in range(ANNOTATORS):
        user = make_user(f"pooled{i}")
        membership_set(project=project, user=user, role=Role.ANNOTATOR)
        assignment = assignment_claim_next(project=project, user=user)
        seats.append((Token.objects.create(user=user).key, assignment))
    errors, peak = [], [0]

    def annotate(token: str, assignment: Assignment) -> None:
        url = f"{asgi_server.url}/api/assignments/{assignment.pk}/labels/"
        version = assignment.version
        try:
            for n in range(SAVES_EACH):
                step = n % assignment.chain.step_count
                version = call(url, token=token, method="PATCH",
                               body={"version": version, "save_key": f"{assignment.pk}-{n}",
                                     "labels": [{"step": step, "rating": 1 if n % 2 else -1}]})["version"]
        except Exception as error:  # noqa: BLE001 (collected and asserted below)
            errors.append(repr(error))

    threads = [threading.Thread(target=annotate, args=seat) for seat in seats]
    for thread in threads:
        thread.start()
    while any(thread.is_alive() for thread in threads):
        peak[0] = max(peak[0], server_connections())
        threads[0].join(0.02)
    for thread in threads:
        thread.join()

    assert errors == []
    for _token, assignment in seats:
        assignment.refresh_from_db()
        assert assignment.version == 1 + SAVES_EACH
        assert assignment.labels.count() == min(SAVES_EACH, assignment.chain.step_count)
    # The server borrowed from its pool: never more connections than the pool holds.
    assert 1 <= peak[0] <= SERVER_POOL_SIZE
