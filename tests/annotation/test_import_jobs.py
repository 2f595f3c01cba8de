"""Import jobs: a worker killed mid-import, a broker that is down, jobs nobody takes, old uploads.

The workers here are real Celery processes on Redis and the test database; the test kills them.
"""

import json
import random
import time
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from annotation.models import Chain, ImportedLabelSet, ImportJob, ImportStatus
from annotation.services import import_jobs_maintain
from annotation.services.import_jobs import _heartbeat_key


def processbench_file(chains: int, steps: int = 8, seed: int = 7) -> bytes:
    rng = random.Random(seed)
    items = [{"id": f"job-{i}", "generator": "m", "problem": f"Problem {i % 500}: what is {i} + {i}?",
              "steps": [f"Step {j}: {rng.randint(1, 99)} + {rng.randint(1, 99)} is some number, \\(x^{j}\\)."
                        for j in range(steps)], "final_answer_correct": True, "label": -1} for i in range(chains)]
    return json.dumps(items, indent=1).encode()


def upload(api_client, researcher, project, data: bytes, name="big.json"):
    response = api_client(researcher).post(reverse("api-import-create", args=[project.slug]),
                                           {"file": SimpleUploadedFile(name, data, content_type="application/json")})
    assert response.status_code == 202, response.content
    return response.json()["id"]


def wait(predicate, seconds=60, step=0.05, what="condition"):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_import_is_noticed_and_the_import_runs_again_once(
        project, researcher, api_client, worker_process, settings):
    settings.STEPWISE_IMPORT_SYNC_MAX_BYTES = 1000
    settings.STEPWISE_IMPORT_STALE_SECONDS = 4  # the test process runs the recovery, as beat would
    env = {"STEPWISE_IMPORT_HEARTBEAT_SECONDS": "1", "STEPWISE_IMPORT_STALE_SECONDS": "4"}
    first = worker_process(**env).start()
    job_id = upload(api_client, researcher, project, processbench_file(40_000))
    wait(lambda: (cache.get(_heartbeat_key(job_id)) or {}).get("phase") == "parse", what="the import to be parsing")
    first.kill()
    job = ImportJob.objects.get(pk=job_id)
    assert job.status == ImportStatus.RUNNING and job.attempts == 1
    assert Chain.objects.filter(project=project).count() == 0  # its transaction died with it

    # Nothing happens until the heartbeat is stale; then the recovery puts it back in the queue.
    assert import_jobs_maintain()["requeued"] == 0
    wait(lambda: import_jobs_maintain()["requeued"] == 1, seconds=20, step=0.5, what="the job to be requeued")
    assert ImportJob.objects.get(pk=job_id).status == ImportStatus.QUEUED
    worker_process(**env).start()
    job = wait(lambda: (j := ImportJob.objects.get(pk=job_id)).status in ("done", "failed") and j, seconds=120,
               step=0.2, what="the second run to finish")
    assert job.status == ImportStatus.DONE, job.errors
    assert job.attempts == 2 and job.result["chains_created"] == 40_000
    assert Chain.objects.filter(project=project).count() == 40_000  # exactly once
    assert ImportedLabelSet.objects.filter(chain__project=project).count() == 40_000


@pytest.mark.django_db(transaction=True)
def test_a_job_whose_worker_keeps_dying_ends_failed_with_the_reason(project, researcher, settings):
    settings.STEPWISE_IMPORT_STALE_SECONDS = 4
    job = ImportJob.objects.create(project=project, created_by=researcher, filename="x.json",
                                   status=ImportStatus.RUNNING, attempts=ImportJob.MAX_ATTEMPTS,
                                   started_at=timezone.now() - timedelta(minutes=5))
    assert import_jobs_maintain()["failed"] == 1
    job.refresh_from_db()
    assert job.status == ImportStatus.FAILED and "stopped 3 times" in job.errors[0]["message"]
    assert "nothing was written" in job.errors[0]["message"]


@pytest.mark.django_db(transaction=True)
def test_with_the_broker_down_an_upload_is_accepted_and_sent_when_it_is_back(
        project, researcher, api_client, worker_process, settings):
    from kombu import pools

    from config.celery import app

    def use_broker(url):
        # Celery and kombu keep pools of broker connections and of producers on them: drop them all.
        app.conf.broker_url = url
        pools.reset()
        app._pool = None
        app.amqp._producer_pool = None

    settings.STEPWISE_IMPORT_SYNC_MAX_BYTES = 1000
    good_url = app.conf.broker_url
    use_broker("redis://127.0.0.1:1/0")  # nothing listens there
    try:
        job_id = upload(api_client, researcher, project, processbench_file(50))
    finally:
        use_broker(good_url)
    job = ImportJob.objects.get(pk=job_id)
    assert job.status == ImportStatus.QUEUED and "could not be reached" in job.progress["waiting"]
    # the page polling the job sees why it waits
    detail = api_client(researcher).get(reverse("api-import", args=[job_id])).json()
    assert detail["status"] == "queued" and "could not be reached" in detail["progress"]["waiting"]
    worker_process().start()
    ImportJob.objects.filter(pk=job_id).update(progress={"enqueued_at": time.time() - 3600})
    assert import_jobs_maintain()["resent"] == 1
    job = wait(lambda: (j := ImportJob.objects.get(pk=job_id)).status == "done" and j, what="the resent job")
    assert job.result["chains_created"] == 50


@pytest.mark.django_db
def test_a_job_no_worker_takes_ends_failed_saying_so(project, researcher, settings):
    job = ImportJob.objects.create(project=project, created_by=researcher, filename="late.json")
    ImportJob.objects.filter(pk=job.pk).update(created_at=timezone.now() - timedelta(
        seconds=settings.STEPWISE_IMPORT_QUEUE_TIMEOUT + 5))
    assert import_jobs_maintain()["failed"] == 1
    job.refresh_from_db()
    assert job.status == ImportStatus.FAILED and "no worker started this import" in job.errors[0]["message"]


@pytest.mark.django_db
def test_uploads_of_finished_jobs_are_deleted_after_the_retention_period(project, researcher, api_client, settings,
                                                                         tmp_path):
    settings.MEDIA_ROOT = tmp_path
    data = b'{"id": "a", "problem": "p", "steps": ["x"]}\n'
    response = api_client(researcher).post(reverse("api-import-create", args=[project.slug]),
                                           {"file": SimpleUploadedFile("a.jsonl", data)})
    refused = api_client(researcher).post(reverse("api-import-create", args=[project.slug]),
                                          {"file": SimpleUploadedFile("b.jsonl", b'{"id": 1}\n')})
    assert (response.status_code, refused.status_code) == (201, 400)
    jobs = list(ImportJob.objects.order_by("id"))
    paths = [job.file.path for job in jobs]
    assert all(tmp_path.joinpath(p).exists() for p in paths)
    assert import_jobs_maintain()["files_deleted"] == 0  # still within the retention period
    ImportJob.objects.update(finished_at=timezone.now() - timedelta(hours=settings.STEPWISE_IMPORT_RETENTION_HOURS + 1))
    assert import_jobs_maintain()["files_deleted"] == 2
    assert not any(tmp_path.joinpath(p).exists() for p in paths)
    assert all(job.file_deleted_at for job in ImportJob.objects.all())


@pytest.mark.django_db
def test_an_upload_over_the_limit_is_refused_before_it_is_stored(project, researcher, api_client, settings):
    settings.STEPWISE_IMPORT_MAX_BYTES = 100
    response = api_client(researcher).post(reverse("api-import-create", args=[project.slug]),
                                           {"file": SimpleUploadedFile("big.json", b"[" + b" " * 200 + b"]")})
    assert response.status_code == 400 and "STEPWISE_IMPORT_MAX_BYTES" in response.json()["detail"]
    assert not ImportJob.objects.exists()
    empty = api_client(researcher).post(reverse("api-import-create", args=[project.slug]),
                                        {"file": SimpleUploadedFile("empty.json", b"")})
    assert empty.status_code == 400 and "empty" in json.dumps(empty.json())
