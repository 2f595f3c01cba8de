"""Where a built release's files live: a local folder in the embedded default (MEDIA_ROOT/releases/<id>/), or,
with STEPWISE_S3_BUCKET, the S3-compatible bucket through django-storages (the `releases` storage in settings:
releases/<id>/<path>), so that a release built by a worker on one machine is read on every other.

A build always writes into a local scratch folder first (Parquet needs a seekable file, and a build that fails
leaves nothing behind), then `publish` moves the folder into place or uploads it file by file. Everything
here reads and writes a megabyte at a time: no file is ever whole in memory.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Iterator
from pathlib import Path

from django.conf import settings
from django.core.files import File
from django.core.files.storage import Storage, storages
from django.utils.http import content_disposition_header

CHUNK = 1 << 20


def bucket() -> Storage | None:
    """The storage of releases on S3, or None where they are local files."""
    return storages["releases"] if "releases" in settings.STORAGES else None


def local_root() -> Path:
    """Local releases (and every build's scratch folder, `<id>.partial`)."""
    return Path(settings.MEDIA_ROOT) / "releases"


def local_dir(release_id: int) -> Path:
    return local_root() / str(release_id)


def _key(release_id: int, path: str) -> str:
    return f"{release_id}/{path}"


def location(release_id: int) -> str:
    """Where the release's files are, as an operator names it."""
    remote = bucket()
    return f"s3://{remote.bucket_name}/{_key(release_id, '')}" if remote else str(local_dir(release_id))


def publish(*, release_id: int, scratch: Path) -> None:
    """Put a finished build's files where readers find them; `scratch` is gone afterwards."""
    remote = bucket()
    if remote is None:
        final = local_dir(release_id)
        shutil.rmtree(final, ignore_errors=True)
        scratch.rename(final)
        return
    try:
        for path in sorted(p for p in scratch.rglob("*") if p.is_file()):
            with path.open("rb") as handle:
                # boto3's upload_fileobj underneath: multipart past 8 MB, parts read from the file as sent.
                remote.save(_key(release_id, path.relative_to(scratch).as_posix()), File(handle))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def exists(*, release_id: int, path: str) -> bool:
    remote = bucket()
    return remote.exists(_key(release_id, path)) if remote else (local_dir(release_id) / path).is_file()


def size(*, release_id: int, path: str) -> int:
    remote = bucket()
    return remote.size(_key(release_id, path)) if remote else (local_dir(release_id) / path).stat().st_size


def chunks(*, release_id: int, path: str) -> Iterator[bytes]:
    """The file's bytes, a megabyte at a time (an S3 GET streamed, or the local file read)."""
    remote = bucket()
    if remote is None:
        with (local_dir(release_id) / path).open("rb") as handle:
            while block := handle.read(CHUNK):
                yield block
        return
    body = remote.bucket.Object(remote._normalize_name(_key(release_id, path))).get()["Body"]  # noqa: SLF001
    try:
        yield from body.iter_chunks(CHUNK)
    finally:
        body.close()


class HashedLines:
    """Lines of a release file read once, hashed as they go by: `sha256` is the file's once iterated."""

    def __init__(self, *, release_id: int, path: str):
        self.release_id, self.path = release_id, path
        self.sha256 = ""

    def __iter__(self) -> Iterator[bytes]:
        digest = hashlib.sha256()
        rest = b""
        for block in chunks(release_id=self.release_id, path=self.path):
            digest.update(block)
            lines = (rest + block).split(b"\n")
            rest = lines.pop()
            yield from (line for line in lines if line)
        if rest:
            yield rest
        self.sha256 = digest.hexdigest()


def download_url(*, release_id: int, path: str, filename: str) -> str | None:
    """A presigned URL of the file (5 minutes) where downloads go straight to the bucket, else None."""
    remote = bucket()
    if remote is None or not settings.STEPWISE_S3_PRESIGNED_DOWNLOADS:
        return None
    return remote.url(_key(release_id, path),
                      parameters={"ResponseContentDisposition": content_disposition_header(True, filename)})
