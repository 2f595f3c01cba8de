"""Importing into the database: all or nothing, idempotent, attributed labels."""

import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from annotation.formats import FileRefused
from annotation.models import Annotation, Assignment, Candidate, Chain, Problem, Step, StepLabel
from annotation.services import chains_import
from tests.conftest import DEMO_DATA, FIXTURES

TABLES = (Problem, Chain, Step, Assignment, Annotation, StepLabel, Candidate)


def counts():
    return {model.__name__: model.objects.count() for model in TABLES}


@pytest.mark.django_db
def test_processbench_import_writes_chains_steps_and_attributed_labels(project, gsm8k_bytes):
    result = chains_import(project=project, data=gsm8k_bytes, filename="gsm8k.json")
    items = json.loads(gsm8k_bytes)
    assert result.chains_created == 20 and result.format == "processbench"
    assert Step.objects.filter(chain__project=project).count() == sum(len(i["steps"]) for i in items)
    assignments = Assignment.objects.filter(chain__project=project)
    assert {a.external_source for a in assignments} == {"processbench"}
    assert all(a.annotator_id is None and a.slot is None for a in assignments)
    flawed = next(i for i in items if i["label"] > 0)
    chain = Chain.objects.get(project=project, source_id=flawed["id"])
    k = flawed["label"]
    ratings = dict(StepLabel.objects.filter(step__chain=chain).values_list("step__index", "rating"))
    assert ratings == {**dict.fromkeys(range(k), 1), k: -1}
    assert chain.assignments.get().annotation.first_error_step == k


@pytest.mark.django_db
def test_reimporting_the_same_file_adds_nothing(project, gsm8k_bytes):
    chains_import(project=project, data=gsm8k_bytes)
    before = counts()
    result = chains_import(project=project, data=gsm8k_bytes)
    assert result.chains_created == 0 and result.chains_skipped == 20
    assert counts() == before


@pytest.mark.django_db
def test_same_id_with_other_content_is_refused_and_nothing_is_written(project, gsm8k_bytes):
    chains_import(project=project, data=gsm8k_bytes)
    before = counts()
    items = json.loads(gsm8k_bytes)
    items[3]["steps"][0] = "A different first step."
    extra = {**items[0], "id": "brand-new"}
    with pytest.raises(FileRefused) as caught:
        chains_import(project=project, data=json.dumps([extra, *items], indent=1).encode(), filename="changed.json")
    [error] = caught.value.errors
    assert error.field == "id" and items[3]["id"] in error.message and "different content" in error.message
    assert counts() == before  # not even the new chain that came before the bad one


@pytest.mark.django_db
def test_a_bad_row_late_in_the_file_leaves_the_database_unchanged(project, gsm8k_bytes):
    items = json.loads(gsm8k_bytes)
    items[-1]["label"] = 99
    before = counts()
    with pytest.raises(FileRefused):
        chains_import(project=project, data=json.dumps(items).encode())
    assert counts() == before


@pytest.mark.django_db
def test_prm800k_labels_keep_their_labeler_and_alternatives(project):
    data = (FIXTURES / "prm800k_sample.jsonl").read_bytes()
    chains_import(project=project, data=data)
    rows = [json.loads(line) for line in data.decode().splitlines()]
    sources = set(Assignment.objects.values_list("external_source", flat=True))
    assert sources == {f"prm800k:{r['labeler']}" for r in rows}
    offered = sum(len(s["completions"]) + (s["human_completion"] is not None) for r in rows for s in r["label"]["steps"] if s)
    assert Candidate.objects.count() == offered


@pytest.mark.django_db
def test_prm800k_second_labeler_of_the_same_trajectory_joins_the_existing_chain(project):
    row = json.loads((FIXTURES / "prm800k_sample.jsonl").read_text().splitlines()[0])
    chains_import(project=project, data=json.dumps(row).encode())
    other = {**row, "labeler": "someone-else"}
    result = chains_import(project=project, data=json.dumps(other).encode())
    assert result.chains_created == 0 and result.label_sets_created == 1
    chain = Chain.objects.get()
    assert chain.assignments.count() == 2


@pytest.mark.django_db
def test_import_command_refuses_with_line_and_field_and_exit_code(project, tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"id": "a", "problem": "p", "steps": ["x"]}\n{"id": "b", "problem": "p", "steps": [1]}\n')
    with pytest.raises(CommandError) as caught:
        call_command("import_chains", str(path), "--project", project.slug, "--no-progress")
    assert "line 2, field 'steps[0]'" in str(caught.value)
    assert Chain.objects.count() == 0


@pytest.mark.django_db
def test_import_command_creates_project_on_request(tmp_path, capsys):
    path = DEMO_DATA / "processbench_math_excerpt.json"
    with pytest.raises(CommandError, match="--create"):
        call_command("import_chains", str(path), "--project", "fresh", "--no-progress")
    call_command("import_chains", str(path), "--project", "fresh", "--create", "--no-progress")
    assert "10 chains imported" in capsys.readouterr().out
    assert Chain.objects.filter(project__slug="fresh").count() == 10


@pytest.mark.django_db
def test_text_is_split_and_each_step_keeps_its_span_in_the_raw_text(project):
    raw = "Step 1: let $x = 2$.\nStep 2: so\tx² = 4 \\\\ done."
    chains_import(project=project, data=json.dumps({"id": "t", "problem": "p", "text": raw,
                                                    "segmentation": "step_marker"}).encode())
    chain = Chain.objects.get(source_id="t")
    assert chain.raw_text == raw and chain.segmentation == "step_marker"
    steps = list(chain.steps.order_by("index").values_list("text", "char_start", "char_end"))
    assert [text for text, _, _ in steps] == ["let $x = 2$.", "so\tx² = 4 \\\\ done."]
    assert all(raw[start:end] == text for text, start, end in steps)
    chains_import(project=project, data=b'{"id": "given", "problem": "p", "steps": ["a", "b"]}')
    assert not Step.objects.filter(chain__source_id="given", char_start__isnull=False).exists()
