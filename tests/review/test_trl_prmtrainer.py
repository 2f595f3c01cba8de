"""The trl-stepwise export is accepted row by row by TRL's own PRMTrainer tokenization (trl==1.13.0)."""

import json
import subprocess
import sys

import pytest
from django.core.management import call_command

from annotation.services import chains_import
from tests.conftest import DEMO_DATA, ROOT

pytest.importorskip("trl.experimental.prm", reason="requirements-trl.txt not installed")
EXCERPTS = ("processbench_gsm8k_excerpt.json", "processbench_math_excerpt.json")


@pytest.mark.trl
@pytest.mark.django_db
def test_every_exported_row_tokenizes_with_one_label_per_step(project, tmp_path):
    for name in EXCERPTS:
        chains_import(project=project, data=(DEMO_DATA / name).read_bytes())
    out = tmp_path / "trl.jsonl"
    call_command("export_dataset", "--project", project.slug, "--format", "trl-stepwise", "--out", str(out),
                 "--no-progress")
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "check_trl_export.py"), str(out)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "30 rows tokenized" in done.stdout
    # and the labels mean what ProcessBench said: False exactly at the first wrong step, nothing after
    source = {i["id"]: i for name in EXCERPTS for i in json.loads((DEMO_DATA / name).read_text())}
    for row in map(json.loads, out.read_text().splitlines()):
        item = source[row["id"]]
        k = item["label"]
        assert row["labels"] == ([True] * len(item["steps"]) if k == -1 else [True] * k + [False])
        assert row["completions"] == item["steps"][: len(row["labels"])]


@pytest.mark.trl
def test_the_checker_rejects_a_row_whose_labels_do_not_match_its_steps(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"id": "x", "prompt": "p", "completions": ["a", "b"], "labels": [True]}) + "\n")
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "check_trl_export.py"), str(bad)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode != 0
