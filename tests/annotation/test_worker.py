"""A large upload is imported by a real Celery worker that takes the task from Redis."""

import json
import time

import pytest
from celery.contrib.testing.worker import start_worker
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from annotation.models import Chain, ImportJob
from config.celery import app as celery_app
from tests.conftest import DEMO_DATA


@pytest.fixture
def redis_worker(transactional_db):
    assert settings.CELERY_BROKER_URL.startswith("redis://"), "the suite runs Celery on Redis (set REDIS_URL)"
    with start_worker(celery_app, pool="solo", perform_ping_check=False, shutdown_timeout=10,
                      queues=["default"]) as worker:
        yield worker


def wait_for(job_id, seconds=30):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        job = ImportJob.objects.get(pk=job_id)
        if job.status in ("done", "failed"):
            return job
        time.sleep(0.1)
    raise AssertionError(f"import job {job_id} still {job.status} after {seconds}s")


@pytest.mark.django_db(transaction=True)
def test_large_upload_is_queued_and_imported_by_the_worker(project, researcher, api_client, redis_worker, settings):
    settings.STEPWISE_IMPORT_SYNC_MAX_BYTES = 1000  # anything bigger goes to the worker
    data = (DEMO_DATA / "processbench_gsm8k_excerpt.json").read_bytes()
    upload = SimpleUploadedFile("gsm8k.json", data, content_type="application/json")
    response = api_client(researcher).post(reverse("api-import-create", args=[project.slug]), {"file": upload})
    assert response.status_code == 202 and response.json()["status"] == "queued"
    job = wait_for(response.json()["id"])
    assert job.status == "done", job.errors
    assert job.result["chains_created"] == 20
    assert Chain.objects.filter(project=project).count() == 20
    detail = api_client(researcher).get(reverse("api-import", args=[job.pk])).json()
    assert detail["status"] == "done"


@pytest.mark.django_db(transaction=True)
def test_refused_file_on_the_worker_records_line_and_field(project, researcher, api_client, redis_worker, settings):
    settings.STEPWISE_IMPORT_SYNC_MAX_BYTES = 10
    items = json.loads((DEMO_DATA / "processbench_math_excerpt.json").read_text())
    items[4]["label"] = 40
    upload = SimpleUploadedFile("bad.json", json.dumps(items, indent=1).encode())
    response = api_client(researcher).post(reverse("api-import-create", args=[project.slug]), {"file": upload})
    job = wait_for(response.json()["id"])
    assert job.status == "failed"
    assert job.errors[0]["field"] == "label" and job.errors[0]["line"] > 1
    assert Chain.objects.count() == 0
