"""Uploaded files on S3-compatible storage (django-storages; MinIO in docker-compose.yml): an import uploaded
through the web process is stored in the bucket and read from there by a worker that shares no disk with
it. The S3 server is moto's, in server mode: a real HTTP server in its own process, standing in for MinIO
(a server outside the project). The embedded default keeps local files (every other import test)."""

import json
import time
import urllib.request

from tests.conftest import DEMO_DATA
from tests.processes import S3_BUCKET as BUCKET
from tests.processes import S3_KEYS as KEYS


def files_under(folder) -> list:
    return [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []


def test_an_import_uploaded_on_the_web_machine_is_read_by_a_worker_from_the_bucket(
        web_process, worker_process, tmp_path, project, researcher, s3_server):
    from rest_framework.authtoken.models import Token

    from annotation.models import Chain, ImportJob

    url, client = s3_server
    storage = {"STEPWISE_S3_BUCKET": BUCKET, "STEPWISE_S3_ENDPOINT_URL": url, **KEYS}
    web_disk, worker_disk = tmp_path / "web", tmp_path / "worker"  # two machines: nothing shared on disk
    # Over the size imported during the request: queued for a worker.
    server = web_process(STEPWISE_VAR_DIR=str(web_disk), STEPWISE_IMPORT_SYNC_MAX_BYTES="100", **storage).start()
    content = (DEMO_DATA / "processbench_gsm8k_excerpt.json").read_bytes()
    boundary = "b0undary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"gsm8k.json\"\r\n"
            "Content-Type: application/json\r\n\r\n").encode() + content + f"\r\n--{boundary}--\r\n".encode()
    token = Token.objects.get_or_create(user=researcher)[0].key
    request = urllib.request.Request(f"{server.url}/api/projects/{project.slug}/imports/", data=body, method="POST",
                                     headers={"Content-Type": f"multipart/form-data; boundary={boundary}",
                                              "Authorization": f"Token {token}"})
    with urllib.request.urlopen(request, timeout=30) as reply:
        queued = json.loads(reply.read())
    assert reply.status == 202 and queued["status"] == "queued", queued
    job = ImportJob.objects.get(pk=queued["id"])
    # The upload is in the bucket, whole, under the name the job points at; not on the web machine's disk.
    stored = client.get_object(Bucket=BUCKET, Key=job.file.name)["Body"].read()
    assert stored == content and job.file.name.startswith("imports/")
    assert files_under(web_disk / "media") == []
    worker_process(STEPWISE_VAR_DIR=str(worker_disk), **storage).start()
    deadline = time.monotonic() + 60
    while ImportJob.objects.get(pk=job.pk).status in ("queued", "running"):
        assert time.monotonic() < deadline, "the worker did not import the file from the bucket"
        time.sleep(0.2)
    job.refresh_from_db()
    assert job.status == "done", job.errors
    assert Chain.objects.filter(project=project).count() == 20
    assert files_under(worker_disk / "media") == []
