"""The release page in Chromium: build a release from the form, watch its progress arrive over the
websocket, download from the file list, upload a judge's predictions and read the evaluation page.

Screenshots go to $STEPWISE_SCREENSHOTS when set (docs/screenshots/ is made that way)."""

import json
import os
import shutil
from pathlib import Path

import orjson
import pytest
from playwright.sync_api import expect

from annotation.realtime import broadcast_project_event
from config.celery import app as celery_app
from review import releases
from review.releases_models import DatasetRelease
from tests.browser import log_in, off_loop
from tests.conftest import DEMO_DATA

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def shot(page, name):
    folder = os.environ.get("STEPWISE_SCREENSHOTS")
    if folder:
        page.screenshot(path=str(Path(folder) / name), full_page=True)


@pytest.fixture
def two_subsets(project):
    from annotation.services import chains_import

    for name in ("processbench_gsm8k_excerpt.json", "processbench_math_excerpt.json"):
        off_loop(chains_import, project=project, data=(DEMO_DATA / name).read_bytes())
    return project


def test_build_follow_download_and_evaluate(asgi_server, two_subsets, researcher, page, tmp_path):
    project = two_subsets
    log_in(page, asgi_server, "res")
    page.goto(f"{asgi_server.url}/projects/{project.slug}/releases/")
    page.get_by_label("Name").fill("processbench-steps")
    page.get_by_label("Version").fill("1.0")
    page.get_by_label("Test share (by problem)").fill("0.5")
    page.get_by_label("math-shepherd").check()
    page.get_by_role("button", name="Build release").click()
    row = page.locator("[data-release]")
    expect(row).to_contain_text("processbench-steps 1.0")
    expect(row).to_contain_text("Queued")
    celery_app.control.purge()  # no exports worker here: the test builds it, as the worker would
    release = DatasetRelease.objects.get(project=project)
    # The worker's progress, as it broadcasts it: the row's bar follows without a reload.
    DatasetRelease.objects.filter(pk=release.pk).update(status="building")
    off_loop(broadcast_project_event, project_id=project.pk, event="release.progress",
             payload={"release": release.pk, "status": "building", "done": 12, "total": 30})
    expect(row.locator(".release-count")).to_have_text("12 of 30 chains")
    expect(row.locator(".status-text")).to_have_text("Building")
    shot(page, "release-progress.png")
    DatasetRelease.objects.filter(pk=release.pk).update(status="queued")
    release = off_loop(releases.release_build, release_id=release.pk)
    try:
        expect(row.locator(".status-text")).to_have_text("Done")  # the page reloads on "done"
        page.get_by_role("link", name="processbench-steps 1.0").click()
        expect(page.locator("h1")).to_contain_text("processbench-steps")
        expect(page.get_by_role("link", name="processbench/test.json")).to_be_visible()
        with page.expect_download() as download:
            page.get_by_role("link", name="processbench/test.json").click()
        rows = json.loads(Path(download.value.path()).read_text())
        assert rows and all("label" in r for r in rows)
        shot(page, "release-detail.png")
        test_ids = {r["id"] for r in rows}
        items = [i for name in ("processbench_gsm8k_excerpt.json", "processbench_math_excerpt.json")
                 for i in json.loads((DEMO_DATA / name).read_text()) if i["id"] in test_ids]
        # A made-up judge: right on most chains, with step scores that are somewhat overconfident.
        lines = []
        for n, item in enumerate(items):
            k = item["label"] if n % 4 else -1
            scores = [0.95 if (k == -1 or i < k) else 0.15 for i in range(len(item["steps"]))]
            lines.append(orjson.dumps({"id": item["id"], "label": k, "step_scores": scores}))
        predictions = tmp_path / "judge.jsonl"
        predictions.write_bytes(b"\n".join(lines))
        page.get_by_label("Judge").fill("made-up-judge <b>")
        page.get_by_label("Predictions (.jsonl)").set_input_files(str(predictions))
        page.get_by_role("button", name="Evaluate").click()
        expect(page.locator("h1")).to_have_text("made-up-judge <b>")  # escaped, shown as text
        expect(page.get_by_role("img", name="Reliability diagram: accuracy per confidence bin")).to_be_visible()
        expect(page.locator("table.list")).to_contain_text("f1:average")
        shot(page, "judge-evaluation.png")
    finally:
        shutil.rmtree(releases.release_dir(release), ignore_errors=True)
