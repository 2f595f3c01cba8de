"""Releases: built from the database into every format, reproducible from the manifest, split by problem."""

import json

import pytest

from annotation.services import (
    chains_import,
)
from review.releases import release_build, release_create, release_dir
from review.releases_build import RELEASE_FORMATS
from review.releases_models import ReleaseStatus
from tests.conftest import DEMO_DATA, FIXTURES

EXCERPTS = ("processbench_gsm8k_excerpt.json", "processbench_math_excerpt.json")


def built(project, user=None, **options):
    options = {"name": "steps", "version": "1.0", "formats": list(RELEASE_FORMATS), "test_fraction": 0.3, **options}
    release = release_create(project=project, user=user, **options)
    release = release_build(release_id=release.pk)
    assert release.status == ReleaseStatus.DONE, release.error
    return release


@pytest.fixture
def loaded(project):
    for name in EXCERPTS:
        chains_import(project=project, data=(DEMO_DATA / name).read_bytes())
    chains_import(project=project, data=(FIXTURES / "prm800k_sample.jsonl").read_bytes())
    return project


@pytest.mark.django_db(transaction=True)
def test_a_release_has_every_format_per_split_with_sha256_and_counts(loaded, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    release = built(loaded)
    root = release_dir(release)
    manifest = json.loads((root / "manifest.json").read_text())
    assert manifest == release.manifest
    kinds = {f["kind"] for f in manifest["files"]}
    assert kinds == set(RELEASE_FORMATS) | {"provenance", "card"}
    for f in manifest["files"]:
        assert (root / f["path"]).stat().st_size == f["bytes"]
    print(manifest["counts"])
