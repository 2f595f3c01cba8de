"""Commands: export_dataset for every format, release_build with progress, release_remake, release_diff,
evaluate_judge."""

import json

import pyarrow.parquet as pq
import pytest
from django.core.management import CommandError, call_command

from review.releases_build import RELEASE_FORMATS
from review.releases_export import EXTRA_FORMATS
from review.releases_models import DatasetRelease
from tests.conftest import DEMO_DATA
from tests.review.test_releases import EXCERPTS

pytestmark = pytest.mark.django_db


@pytest.fixture
def both(imported):
    from annotation.services import chains_import

    chains_import(project=imported, data=(DEMO_DATA / EXCERPTS[1]).read_bytes())
    return imported


@pytest.mark.parametrize("fmt", EXTRA_FORMATS)
def test_export_dataset_writes_every_release_format(both, tmp_path, fmt, capsys):
    out = tmp_path / f"out.{fmt}"
    call_command("export_dataset", "--project", both.slug, "--format", fmt, "--out", str(out), "--no-progress")
    assert "rows" in capsys.readouterr().out and not (tmp_path / f"out.{fmt}.partial").exists()
    if fmt == "parquet":
        assert pq.read_table(out).num_rows == 30
    elif fmt == "math-shepherd":
        rows = [json.loads(line) for line in out.read_text().splitlines()]
        assert len(rows) == 30 and all(r["input"].count(" ки") == len(r["value"]) for r in rows)
    else:
        assert out.read_text() == ""  # ProcessBench's labels carry no alternatives or corrections


def test_release_commands_build_remake_diff_and_evaluate(both, tmp_path, settings, capsys):
    settings.MEDIA_ROOT = tmp_path / "media"
    args = ["--project", both.slug, "--name", "pb", "--test-fraction", "0.5", "--no-progress"]
    call_command("release_build", *args, "--version", "1", *sum((["--format", f] for f in RELEASE_FORMATS), []))
    call_command("release_build", *args, "--version", "2", "--format", "processbench", "--seed", "other")
    first, second = DatasetRelease.objects.order_by("id")
    assert first.status == second.status == "done"
    assert "content" in capsys.readouterr().out
    call_command("release_remake", "--release", str(first.pk), "--out", str(tmp_path / "again"))
    assert "identical sha256s" in capsys.readouterr().out
    with pytest.raises(CommandError, match="does not exist yet"):
        call_command("release_remake", "--release", str(first.pk), "--out", str(tmp_path / "again"))
    call_command("release_diff", str(first.pk), str(second.pk))
    diff = json.loads(capsys.readouterr().out)
    assert diff["counts"]["moved_split"] > 0 and diff["filters"]["seed"] == ["stepwise", "other"]
    test_ids = [json.loads(line)["id"] for line in (tmp_path / "media" / "releases" / str(first.pk) / "selection.jsonl")
                .read_text().splitlines() if json.loads(line)["split"] == "test"]
    items = {i["id"]: i for name in EXCERPTS for i in json.loads((DEMO_DATA / name).read_text())}
    predictions = tmp_path / "judge.jsonl"
    predictions.write_text("".join(json.dumps({"id": i, "label": items[i]["label"]}) + "\n" for i in test_ids))
    call_command("evaluate_judge", "--release", str(first.pk), "--predictions", str(predictions), "--judge", "oracle",
                 "--resamples", "20")
    result = json.loads(capsys.readouterr().out)
    assert result["measures"]["f1:average"]["value"] == pytest.approx(100)
    with pytest.raises(CommandError, match="no chains in split 'dev'"):
        call_command("evaluate_judge", "--release", str(first.pk), "--predictions", str(predictions), "--judge", "x",
                     "--split", "dev")
