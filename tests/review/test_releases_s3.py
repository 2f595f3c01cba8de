"""Releases on S3-compatible storage (STEPWISE_S3_BUCKET): a release built by a Celery worker in its own process
lands in the bucket byte for byte, nothing left on the worker's disk; it downloads through uvicorn (streamed,
or redirected to a presigned URL); a re-make read from the bucket gives the same sha256s. Large files go up
in parts and come back a megabyte at a time with the processes' memory flat. moto's S3 server stands in for
MinIO (tests/processes.py); the embedded default keeps local files (every other release test)."""

import hashlib
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from annotation.services import chains_import
from review.releases_models import DatasetRelease, ReleaseFile
from tests.conftest import DEMO_DATA, ROOT
from tests.processes import S3_BUCKET, S3_KEYS, subprocess_env

pytestmark = pytest.mark.django_db(transaction=True)
FORMATS = ["prm800k", "processbench", "preference", "parquet"]


def files_under(folder) -> list:
    return [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []


def storage_env(url: str, **extra: str) -> dict:
    return {"STEPWISE_S3_BUCKET": S3_BUCKET, "STEPWISE_S3_ENDPOINT_URL": url, **S3_KEYS, **extra}


def token_for(user) -> str:
    from rest_framework.authtoken.models import Token

    return Token.objects.get_or_create(user=user)[0].key


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def fetch(url: str, *, token: str = "", method: str = "GET", body: dict | None = None, follow: bool = True):
    """(status, headers, body bytes); HTTP errors are answers too."""
    request = urllib.request.Request(url, method=method, data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Content-Type": "application/json",
                                              **({"Authorization": f"Token {token}"} if token else {})})
    opener = urllib.request.build_opener() if follow else urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(request, timeout=60) as reply:
            return reply.status, dict(reply.headers), reply.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def wait_done(release_id: int, timeout: float = 120) -> DatasetRelease:
    deadline = time.monotonic() + timeout
    while (release := DatasetRelease.objects.get(pk=release_id)).status in ("queued", "building"):
        assert time.monotonic() < deadline, f"release {release_id} still {release.status}"
        time.sleep(0.3)
    assert release.status == "done", release.error
    return release


def in_bucket(client, release_id: int) -> dict[str, bytes]:
    listed = client.list_objects_v2(Bucket=S3_BUCKET, Prefix=f"releases/{release_id}/").get("Contents", [])
    prefix = f"releases/{release_id}/"
    return {o["Key"].removeprefix(prefix): client.get_object(Bucket=S3_BUCKET, Key=o["Key"])["Body"].read()
            for o in listed}


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_a_release_built_by_a_worker_lands_in_the_bucket_downloads_and_is_remade_the_same(
        web_process, worker_process, s3_server, tmp_path, project, researcher):
    url, client = s3_server
    for name in ("processbench_gsm8k_excerpt.json", "processbench_math_excerpt.json"):
        chains_import(project=project, data=(DEMO_DATA / name).read_bytes())
    web_disk, worker_disk = tmp_path / "web", tmp_path / "worker"  # two machines: nothing shared on disk
    server = web_process(STEPWISE_VAR_DIR=str(web_disk), **storage_env(url)).start()
    worker_process("exports", STEPWISE_VAR_DIR=str(worker_disk), **storage_env(url)).start()
    token = token_for(researcher)
    status, _, body = fetch(f"{server.url}/api/projects/{project.slug}/releases/", token=token, method="POST",
                            body={"name": "pb", "version": "1", "formats": FORMATS, "test_fraction": 0.3})
    assert status == 202, body
    release = wait_done(json.loads(body)["id"])

    # In the bucket, byte for byte: every file the manifest lists, the selection and the manifest itself.
    stored = in_bucket(client, release.pk)
    listed = {f["path"]: f["sha256"] for f in release.manifest["files"]}
    listed[release.manifest["selection"]["path"]] = release.manifest["selection"]["sha256"]
    assert set(stored) == {*listed, "manifest.json"}
    assert {path: sha(stored[path]) for path in listed} == listed
    assert dict(ReleaseFile.objects.filter(release=release).values_list("path", "sha256")) == listed
    assert {f["path"]: f["bytes"] for f in release.manifest["files"]} == {
        p: len(stored[p]) for p in listed if p != "selection.jsonl"}
    assert json.loads(stored["manifest.json"])["content_hash"] == release.content_hash
    assert {"data/train.parquet", "prm800k/test.jsonl", "processbench/train.json"} <= set(listed)
    assert files_under(worker_disk / "media") == [] and files_under(web_disk / "media") == []  # scratch gone

    # Through the API, streamed by the web process from the bucket.
    for path in [*listed, "manifest.json"]:
        status, headers, data = fetch(f"{server.url}/api/releases/{release.pk}/files/{path}", token=token)
        assert status == 200 and data == stored[path], path
        assert headers["Content-Length"] == str(len(data))
        assert headers["Content-Disposition"].startswith("attachment; filename=\"pb-1-")
    status, _, _ = fetch(f"{server.url}/api/releases/{release.pk}/files/nothing.jsonl", token=token)
    assert status == 404
    status, _, _ = fetch(f"{server.url}/api/releases/{release.pk}/files/prm800k/test.jsonl")
    assert status == 401  # anonymous

    # With presigned downloads on, the API redirects to the bucket for five minutes.
    direct = web_process(STEPWISE_VAR_DIR=str(web_disk), **storage_env(url, STEPWISE_S3_PRESIGNED_DOWNLOADS="true"))
    direct.start()
    status, headers, _ = fetch(f"{direct.url}/api/releases/{release.pk}/files/data/train.parquet", token=token,
                               follow=False)
    assert status == 302 and headers["Location"].startswith(f"{url}/{S3_BUCKET}/releases/{release.pk}/data/train.parquet?")
    assert "X-Amz-Expires=300" in headers["Location"]
    status, headers, data = fetch(headers["Location"])
    assert status == 200 and sha(data) == listed["data/train.parquet"]
    assert headers["Content-Disposition"] == 'attachment; filename="pb-1-data-train.parquet"'

    # A re-make (the worker reads the selection back from the bucket) gives the same sha256s.
    status, _, body = fetch(f"{server.url}/api/releases/{release.pk}/remake/", token=token, method="POST",
                            body={"version": "1-again"})
    assert status == 202, body
    again = wait_done(json.loads(body)["id"])
    assert again.content_hash == release.content_hash
    remade = {f["path"]: f["sha256"] for f in again.manifest["files"]}
    # The dataset card names the version; every data file is the same.
    assert {p: s for p, s in remade.items() if p != "README.md"} == {
        p: s for p, s in listed.items() if p not in ("README.md", "selection.jsonl")}
    assert again.manifest["selection"]["sha256"] == listed["selection.jsonl"]
    assert sha(in_bucket(client, again.pk)["selection.jsonl"]) == listed["selection.jsonl"]
    # A file changed in the bucket is caught when the release is re-made from it.
    client.put_object(Bucket=S3_BUCKET, Key=f"releases/{release.pk}/selection.jsonl", Body=stored["selection.jsonl"] + b"\n{}")
    status, _, body = fetch(f"{server.url}/api/releases/{release.pk}/remake/", token=token, method="POST",
                            body={"version": "1-changed"})
    failed = DatasetRelease.objects.get(pk=json.loads(body)["id"])
    deadline = time.monotonic() + 60
    while failed.status in ("queued", "building") and time.monotonic() < deadline:
        time.sleep(0.3)
        failed.refresh_from_db()
    assert failed.status == "failed" and "sha256 is not the manifest's" in failed.error


MEMORY_PROBE = r"""
import hashlib, os, sys
from pathlib import Path
import django
django.setup()
from review import releases_store as store

def status_mb(field):
    line = next(l for l in Path("/proc/self/status").read_text().splitlines() if l.startswith(field + ":"))
    return int(line.split()[1]) / 1024

def reset_peak():
    Path("/proc/self/clear_refs").write_text("5")  # Linux: the peak (VmHWM) starts again from the RSS now
    return status_mb("VmRSS")

def peak_mb():
    return status_mb("VmHWM")

scratch = Path(sys.argv[1])
(scratch / "big").mkdir(parents=True)
digest = hashlib.sha256()
block = os.urandom(1 << 20)
with (scratch / "big" / "train.jsonl").open("wb") as out:
    for i in range(int(sys.argv[2])):
        piece = hashlib.sha256(block + i.to_bytes(4, "big")).digest() * (1 << 15)  # 1 MB, each its own
        digest.update(piece)
        out.write(piece)
store.bucket().exists("warm-up")  # the client made, its imports done
before_up = reset_peak()
store.publish(release_id=424242, scratch=scratch)
uploaded = peak_mb() - before_up
before_read = reset_peak()
back = hashlib.sha256()
for chunk in store.chunks(release_id=424242, path="big/train.jsonl"):
    back.update(chunk)
read = peak_mb() - before_read
print(digest.hexdigest(), back.hexdigest(), uploaded, read, scratch.exists())
"""


def test_a_large_release_file_goes_up_in_parts_and_comes_back_with_flat_memory(s3_server, tmp_path):
    url, client = s3_server
    megabytes = 96
    env = subprocess_env(**storage_env(url, STEPWISE_VAR_DIR=str(tmp_path / "var")))
    done = subprocess.run([sys.executable, "-c", MEMORY_PROBE, str(tmp_path / "scratch"), str(megabytes)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    print("written, read back, peak MB growth in the upload / the read, scratch left:", done.stdout)
    written, read_back, uploaded, read, scratch_left = done.stdout.split()
    assert read_back == written and scratch_left == "False"
    # Peak memory grows by the parts in flight and read ahead (two each, of 8 MB: +37 MB measured for 96 MB
    # and for 384 MB), not by the file's size (boto3's default read-ahead of 10 parts: +93 / +101 MB).
    assert float(uploaded) < 48, done.stdout
    assert float(read) < 48, done.stdout
    head = client.head_object(Bucket=S3_BUCKET, Key="releases/424242/big/train.jsonl")
    assert head["ContentLength"] == megabytes << 20
    assert head["ETag"].strip('"').endswith(f"-{megabytes // 8}")  # a multipart upload of 12 parts of 8 MB


def test_a_download_is_streamed_by_uvicorn_without_holding_the_file(web_process, s3_server, project, researcher,
                                                                   tmp_path):
    """Django's ASGI handler gathers a plain iterator whole before sending (FileResponse's too): the web
    process's peak memory must not grow by the file's size."""
    url, client = s3_server
    megabytes = 96
    release = DatasetRelease.objects.create(project=project, name="big", version="1", status="done",
                                            content_hash="0" * 64, manifest={"files": []})
    ReleaseFile.objects.create(release=release, path="big/train.jsonl", kind="prm800k", split="train",
                               bytes=megabytes << 20, sha256="")
    body = os.urandom(1 << 20) * megabytes
    client.put_object(Bucket=S3_BUCKET, Key=f"releases/{release.pk}/big/train.jsonl", Body=body)
    server = web_process(STEPWISE_VAR_DIR=str(tmp_path / "web"), **storage_env(url)).start()
    token = token_for(researcher)

    def peak_mb() -> float:
        status = open(f"/proc/{server.process.pid}/status").read()  # noqa: SIM115, PTH123
        return int(next(line for line in status.splitlines() if line.startswith("VmHWM:")).split()[1]) / 1024

    fetch(f"{server.url}/api/releases/{release.pk}/", token=token)  # warm: app loaded, database connected
    before = peak_mb()
    digest, size = hashlib.sha256(), 0
    request = urllib.request.Request(f"{server.url}/api/releases/{release.pk}/files/big/train.jsonl",
                                     headers={"Authorization": f"Token {token}"})
    with urllib.request.urlopen(request, timeout=120) as reply:
        while block := reply.read(1 << 20):
            digest.update(block)
            size += len(block)
    assert size == len(body) and digest.hexdigest() == sha(body)
    grown = peak_mb() - before
    print(f"uvicorn's peak grew {grown:.1f} MB over {before:.1f} MB for a {megabytes} MB download")
    assert grown < 40, (before, grown)  # it grew by the file's size (+110 MB) with Django's FileResponse
