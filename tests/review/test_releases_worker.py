"""A release is built by a real Celery worker on the `exports` queue (Redis), its progress reaching the
project's websocket group through channels-redis."""

import time

import pytest
from asgiref.sync import sync_to_async
from celery.contrib.testing.worker import start_worker
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.urls import reverse

from annotation.services import chains_import
from config.asgi import application
from config.celery import app as celery_app
from review import releases
from review.releases_models import DatasetRelease
from tests.annotation.test_realtime import session_headers
from tests.conftest import DEMO_DATA


@pytest.fixture
def exports_worker(transactional_db):
    assert settings.CELERY_BROKER_URL.startswith("redis://"), "the suite runs Celery on Redis (set REDIS_URL)"
    celery_app.control.purge()
    with start_worker(celery_app, pool="solo", perform_ping_check=False, shutdown_timeout=10,
                      queues=["exports"]) as worker:
        yield worker


def test_the_build_task_is_routed_to_the_exports_queue():
    from review.releases_tasks import release_build_task

    assert celery_app.amqp.router.route({}, release_build_task.name)["queue"].name == "exports"


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_a_worker_builds_the_release_and_the_page_hears_its_progress(project, researcher, api_client,
                                                                           exports_worker, settings, tmp_path,
                                                                           monkeypatch):
    settings.MEDIA_ROOT = tmp_path
    monkeypatch.setattr(releases, "PROGRESS_EVERY", 5)
    monkeypatch.setattr(releases, "PROGRESS_SECONDS", 0)
    for name in ("processbench_gsm8k_excerpt.json", "processbench_math_excerpt.json"):
        await sync_to_async(chains_import)(project=project, data=(DEMO_DATA / name).read_bytes())
    communicator = WebsocketCommunicator(application, f"/ws/projects/{project.slug}/",
                                         headers=await sync_to_async(session_headers)(researcher))
    connected, _ = await communicator.connect()
    assert connected
    client = await sync_to_async(api_client)(researcher)
    response = await sync_to_async(client.post)(reverse("api-release-list", args=[project.slug]),
                                                {"name": "pb", "version": "1", "formats": ["processbench", "parquet"]},
                                                format="json")
    assert response.status_code == 202
    events = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        message = await communicator.receive_json_from(timeout=30)
        if message["event"] == "release.progress":
            events.append(message["payload"])
            if message["payload"]["status"] in ("done", "failed"):
                break
    await communicator.disconnect()
    assert events[-1]["status"] == "done", events
    building = [e for e in events if e["status"] == "building"]
    assert [e["done"] for e in building] == [5, 10, 15, 20, 25, 30] and building[0]["total"] == 30
    release = await sync_to_async(DatasetRelease.objects.get)(pk=response.json()["id"])
    assert release.status == "done" and release.manifest["counts"]["chains_read"] == 30
