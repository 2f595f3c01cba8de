"""Importing into the database: all or nothing, idempotent, streaming, limits, nothing dropped silently."""

import json
import threading
import time

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, connections

from annotation.formats import FileRefused, Limits
from annotation.models import Chain, ChainRevision, ImportedLabelSet, Membership, Problem, Role
from annotation.selectors import chain_steps
from annotation.services import chains_import, membership_set
from review.selectors import export_rows
from tests.conftest import DEMO_DATA, FIXTURES

TABLES = (Problem, Chain, ChainRevision, ImportedLabelSet)


def counts():
    return {model.__name__: model.objects.count() for model in TABLES}


def refused(project, data: bytes, **kwargs) -> list:
    before = counts()
    with pytest.raises(FileRefused) as caught:
        chains_import(project=project, data=data, filename="upload", **kwargs)
    assert counts() == before, "a refused file wrote something"
    return caught.value.errors


def jsonl(*rows) -> bytes:
    return "\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows).encode()


def labels_of(chain):
    return json.loads(chain.imported_labels.get(replaced_at__isnull=True).ratings)


@pytest.mark.django_db
def test_processbench_import_writes_chains_revisions_and_reference_labels(project, gsm8k_bytes):
    result = chains_import(project=project, data=gsm8k_bytes, filename="gsm8k.json")
    items = json.loads(gsm8k_bytes)
    assert result.chains_created == 20 and result.format == "processbench"
    assert result.steps_created == sum(len(i["steps"]) for i in items)
    flawed = next(i for i in items if i["label"] > 0)
    chain = Chain.objects.get(project=project, source_id=flawed["id"])
    assert chain_steps(chain=chain).texts == flawed["steps"]
    assert (chain.revision, chain.step_count, chain.next_step_key) == (1, len(flawed["steps"]), len(flawed["steps"]))
    k = flawed["label"]
    assert labels_of(chain) == [1] * k + [-1] + [None] * (len(flawed["steps"]) - k - 1)
    label_set = chain.imported_labels.get()
    assert (label_set.source, label_set.first_error_index, label_set.finish_reason) == ("processbench", k, "found_error")
    assert not chain.assignments.exists()  # reference labels are not an annotator's assignment


@pytest.mark.django_db
def test_reimporting_the_same_file_adds_nothing(project, gsm8k_bytes):
    chains_import(project=project, data=gsm8k_bytes)
    before = counts()
    result = chains_import(project=project, data=gsm8k_bytes)
    assert result.chains_created == 0 and result.chains_skipped == 20 and result.label_sets_created == 0
    assert counts() == before


@pytest.mark.django_db
def test_same_id_with_other_content_is_refused_and_nothing_is_written(project, gsm8k_bytes):
    chains_import(project=project, data=gsm8k_bytes)
    items = json.loads(gsm8k_bytes)
    items[3]["steps"][0] = "A different first step."
    extra = {**items[0], "id": "brand-new"}
    [error] = refused(project, json.dumps([extra, *items], indent=1).encode())
    assert error.field == "id" and items[3]["id"] in error.message and "different content" in error.message
    assert not Chain.objects.filter(source_id="brand-new").exists()  # not even the good chain before it


@pytest.mark.django_db
def test_a_bad_row_late_in_the_file_leaves_the_database_unchanged(project, gsm8k_bytes):
    items = json.loads(gsm8k_bytes)
    items[-1]["label"] = 99
    [error] = refused(project, json.dumps(items).encode())
    assert error.field == "label" and error.line == 1  # one line: the whole array is on it


@pytest.mark.django_db
def test_processbench_as_jsonl_is_detected_and_keeps_its_labels_and_unknown_fields(project, gsm8k_bytes):
    items = json.loads(gsm8k_bytes)
    rows = [{**item, "difficulty": i % 3} if i % 2 else item for i, item in enumerate(items)]
    result = chains_import(project=project, data=jsonl(*rows))
    assert result.format == "processbench" and result.label_sets_created == 20
    assert result.unknown_fields == {"difficulty": 10}
    chain = Chain.objects.get(source_id=items[1]["id"])
    assert chain.metadata["difficulty"] == 1 and chain.metadata["final_answer_correct"] == items[1]["final_answer_correct"]
    exported = {row["id"]: row for row in export_rows(project=project, fmt="processbench")}
    assert [exported[item["id"]]["label"] for item in items] == [item["label"] for item in items]


@pytest.mark.django_db
def test_unknown_stepwise_fields_are_kept_and_named(project):
    result = chains_import(project=project, data=jsonl({"id": "a", "problem": "p", "steps": ["x"], "grade": "A",
                                                        "tags": ["t"]}))
    assert result.unknown_fields == {"grade": 1, "tags": 1}
    assert Chain.objects.get().metadata == {"grade": "A", "tags": ["t"]}


@pytest.mark.django_db
def test_prm800k_pretty_printed_objects_one_after_another_are_read(project):
    rows = [json.loads(line) for line in (FIXTURES / "prm800k_sample.jsonl").read_text().splitlines()]
    data = "\n".join(json.dumps(row, indent=2) for row in rows).encode()
    result = chains_import(project=project, data=data)
    assert result.format == "prm800k" and result.chains_created == 5 and result.label_sets_created == 5
    exported = list(export_rows(project=project, fmt="prm800k"))
    assert sorted(json.dumps({k: v for k, v in r.items() if k != "id"}) for r in exported) == \
        sorted(json.dumps(r) for r in rows)


@pytest.mark.django_db
def test_prm800k_pretty_printed_file_with_a_bad_row_names_its_line(project):
    rows = [json.loads(line) for line in (FIXTURES / "prm800k_sample.jsonl").read_text().splitlines()]
    rows[2]["label"]["finish_reason"] = "bored"
    text = "\n".join(json.dumps(row, indent=2) for row in rows)
    [error] = refused(project, text.encode())
    start = text.index(json.dumps(rows[2], indent=2))
    assert error.line == text.count("\n", 0, start) + 1 and error.field == "label.finish_reason"


@pytest.mark.django_db
def test_prm800k_labels_keep_their_labeler_and_alternatives(project):
    data = (FIXTURES / "prm800k_sample.jsonl").read_bytes()
    chains_import(project=project, data=data)
    rows = [json.loads(line) for line in data.decode().splitlines()]
    assert set(ImportedLabelSet.objects.values_list("source", flat=True)) == {f"prm800k:{r['labeler']}" for r in rows}
    offered = sum(len(s["completions"]) + (s["human_completion"] is not None) for r in rows for s in r["label"]["steps"] if s)
    assert sum(len(json.loads(s.candidates or "[]")) for s in ImportedLabelSet.objects.all()) == offered


@pytest.mark.django_db
def test_prm800k_human_written_steps_do_not_end_the_trl_row(project):
    """Phase-1 rows: the labeler's own step (rating null) is the trajectory's step and counts as +1."""
    rows = [json.loads(line) for line in (FIXTURES / "prm800k_sample.jsonl").read_text().splitlines()]
    with_human = next(r for r in rows if any(s and s["human_completion"] and s["chosen_completion"] is None
                                             for s in r["label"]["steps"]))
    chains_import(project=project, data=json.dumps(with_human).encode())
    human_at = next(i for i, s in enumerate(s for s in with_human["label"]["steps"] if s)
                    if s["human_completion"] and s["chosen_completion"] is None)
    [row] = export_rows(project=project, fmt="trl-stepwise")
    assert len(row["completions"]) > human_at + 1 or row["labels"][-1] is False
    assert row["labels"][human_at] is True


@pytest.mark.django_db
def test_prm800k_second_labeler_of_the_same_trajectory_joins_the_existing_chain(project):
    row = json.loads((FIXTURES / "prm800k_sample.jsonl").read_text().splitlines()[0])
    chains_import(project=project, data=json.dumps(row).encode())
    other = {**row, "labeler": "someone-else"}
    result = chains_import(project=project, data=json.dumps(other).encode())
    assert result.chains_created == 0 and result.label_sets_created == 1
    assert Chain.objects.get().imported_labels.count() == 2
    # and both labelers in one file make one chain with two label sets
    Chain.objects.all().delete()
    result = chains_import(project=project, data=jsonl(row, other))
    assert (result.chains_created, result.label_sets_created) == (1, 2)


@pytest.mark.django_db
def test_changed_labels_under_a_known_id_are_refused_naming_both_versions(project, gsm8k_bytes):
    chains_import(project=project, data=gsm8k_bytes, filename="gsm8k.json")
    items = json.loads(gsm8k_bytes)
    index, item = next((i, it) for i, it in enumerate(items) if it["label"] >= 1)
    items[index] = {**item, "label": item["label"] - 1}
    [error] = refused(project, json.dumps(items, indent=1).encode())
    assert error.field == "label" and item["id"] in error.message
    assert f"first wrong step {item['label']} " in error.message  # the stored version
    assert f"first wrong step {item['label'] - 1} " in error.message  # the file's
    assert "--update-labels" in error.message


@pytest.mark.django_db
def test_update_labels_adds_a_new_label_set_and_keeps_the_old_as_history(project, gsm8k_bytes):
    chains_import(project=project, data=gsm8k_bytes)
    items = json.loads(gsm8k_bytes)
    index, item = next((i, it) for i, it in enumerate(items) if it["label"] >= 1)
    items[index] = {**item, "label": -1}
    result = chains_import(project=project, data=json.dumps(items).encode(), update_labels=True)
    assert (result.chains_created, result.label_sets_created, result.label_sets_replaced) == (0, 1, 1)
    chain = Chain.objects.get(source_id=item["id"])
    assert labels_of(chain) == [1] * len(item["steps"])
    assert chain.imported_labels.filter(replaced_at__isnull=False).count() == 1
    pb = {row["id"]: row for row in export_rows(project=project, fmt="processbench")}
    assert pb[item["id"]]["label"] == -1


@pytest.mark.django_db
def test_repeated_id_within_a_file_names_both_places(project):
    row = {"id": "c1", "problem": "p", "steps": ["a"]}
    [error] = refused(project, jsonl(row, {**row, "steps": ["b"]}))
    assert (error.line, error.field) == (2, "id") and "line 1" in error.message


@pytest.mark.django_db
@pytest.mark.parametrize(("limits", "row", "field", "words"), [
    (Limits(max_steps=3), {"id": "a", "problem": "p", "steps": ["1", "2", "3", "4"]}, "steps", "at most 3"),
    (Limits(max_steps=3), {"id": "a", "problem": "p", "text": "1\n2\n3\n4"}, "text", "at most 3"),
    (Limits(max_step_chars=5), {"id": "a", "problem": "p", "steps": ["ok", "too long"]}, "steps[1]", "at most 5"),
    (Limits(max_depth=3), {"id": "a", "problem": "p", "steps": ["x"], "metadata": {"a": {"b": {"c": {"d": 1}}}}},
     "metadata", "deeper than 3"),
    (Limits(), {"id": "a", "problem": "p", "steps": ["x", "bad\u0000step"]}, "steps[1]", "NUL"),
    (Limits(), {"id": "a", "problem": "p\u0000", "steps": ["x"]}, "problem", "NUL"),
    (Limits(), {"id": "a", "problem": "p", "steps": ["x"], "metadata": {"k": "v\u0000"}}, "metadata", "NUL"),
], ids=["steps", "split-steps", "step-chars", "depth", "nul-step", "nul-problem", "nul-metadata"])
def test_limits_and_nul_are_refused_with_line_and_field(project, limits, row, field, words):
    [error] = refused(project, jsonl({"id": "fine", "problem": "p", "steps": ["s"]}, row), limits=limits)
    assert (error.line, error.field) == (2, field) and words in error.message


@pytest.mark.django_db
def test_a_file_over_the_size_limit_is_refused_before_reading(project):
    [error] = refused(project, jsonl({"id": "a", "problem": "p", "steps": ["x"]}), limits=Limits(max_file_bytes=10))
    assert "STEPWISE_IMPORT_MAX_BYTES" in error.message and error.line == 0


@pytest.mark.django_db
def test_repeated_lines_do_not_become_a_600000_step_chain(project):
    text = "ab\n" * 600_000  # 1.8 MB, as measured on main
    [error] = refused(project, json.dumps({"id": "x", "problem": "p", "text": text}).encode())
    assert error.field == "text" and "600,000 steps" in error.message and "at most 20,000" in error.message


@pytest.mark.django_db
def test_deeply_nested_json_is_refused_cleanly_in_every_layout(project):
    deep = "[" * 5000 + "]" * 5000
    line = '{"id": "a", "problem": "p", "steps": ["x"], "metadata": {"n": ' + deep + "}}"
    for data in (line.encode(), ("[" + line + "]").encode(), ("{\n" + line[1:]).encode()):
        [error] = refused(project, data)
        assert "nested" in error.message and error.line == 1


@pytest.mark.django_db
def test_every_bad_line_is_listed(project):
    rows = [{"id": f"r{i}", "problem": "p", "steps": ["x"] if i % 3 else 7} for i in range(30)]
    errors = refused(project, jsonl(*rows))
    assert [e.line for e in errors] == [i + 1 for i in range(30) if i % 3 == 0]


@pytest.mark.django_db
def test_a_large_array_is_read_in_windows_and_bad_items_get_their_line(project, monkeypatch):
    import annotation.formats.reader as reader

    monkeypatch.setattr(reader, "_WINDOW", 4096)  # many windows for a small file
    items = [{"id": f"w{i}", "problem": f"p {i}", "steps": [f"step {j} of {i} }}, {{ tricky" for j in range(5)],
              "label": -1} for i in range(300)]
    items[250]["steps"] = "not a list"
    text = json.dumps(items, indent=1)
    [error] = refused(project, text.encode())
    assert error.line == text[:text.index('"w250"')].count("\n") and error.field == "steps"
    items[250]["steps"] = ["fixed"]
    result = chains_import(project=project, data=json.dumps(items, indent=1).encode())
    assert result.chains_created == 300
    assert chain_steps(chain=Chain.objects.get(source_id="w7")).texts == items[7]["steps"]


@pytest.mark.django_db
def test_import_command_refuses_with_line_and_field_and_exit_code(project, tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"id": "a", "problem": "p", "steps": ["x"]}\n{"id": "b", "problem": "p", "steps": [1]}\n')
    with pytest.raises(CommandError) as caught:
        call_command("import_chains", str(path), "--project", project.slug, "--no-progress")
    assert "line 2, field 'steps[0]'" in str(caught.value)
    assert Chain.objects.count() == 0


@pytest.mark.django_db
def test_import_command_creates_project_on_request_and_names_unknown_fields(tmp_path, capsys):
    path = DEMO_DATA / "processbench_math_excerpt.json"
    with pytest.raises(CommandError, match="--create"):
        call_command("import_chains", str(path), "--project", "fresh", "--no-progress")
    call_command("import_chains", str(path), "--project", "fresh", "--create", "--no-progress")
    assert "10 chains imported" in capsys.readouterr().out
    assert Chain.objects.filter(project__slug="fresh").count() == 10
    odd = tmp_path / "odd.jsonl"
    odd.write_text(json.dumps({"id": "o", "problem": "p", "steps": ["s"], "colour": "red"}))
    call_command("import_chains", str(odd), "--project", "fresh", "--no-progress")
    assert "colour (1 rows)" in capsys.readouterr().out


@pytest.mark.django_db
def test_text_is_split_and_each_step_keeps_its_span_in_the_raw_text(project):
    raw = "Step 1: let $x = 2$.\nStep 2: so\tx² = 4 \\\\ done."
    chains_import(project=project, data=json.dumps({"id": "t", "problem": "p", "text": raw,
                                                    "segmentation": "step_marker"}).encode())
    chain = Chain.objects.get(source_id="t")
    assert chain.raw_text == raw and chain.segmentation == "step_marker"
    texts = chain_steps(chain=chain).texts
    spans = json.loads(chain.revisions.get(number=1).spans)
    assert texts == ["let $x = 2$.", "so\tx² = 4 \\\\ done."]
    assert [raw[start:end] for start, end in spans] == texts


@pytest.mark.django_db(transaction=True)
def test_an_import_does_not_block_adding_a_member_to_its_project(project, make_user):
    """The import's lock is advisory: writes that point at the project go on meanwhile."""
    if connection.vendor != "postgresql":
        pytest.skip("row and advisory locks are PostgreSQL's")
    holding, release = threading.Event(), threading.Event()

    def progress(phase, done, total):
        holding.set()
        release.wait(20)

    def run_import():
        try:
            rows = [{"id": f"l{i}", "problem": "p", "steps": ["x"]} for i in range(2500)]
            chains_import(project=project, data=jsonl(*rows), progress=progress)
        finally:
            connections.close_all()

    user = make_user("newcomer")
    worker = threading.Thread(target=run_import)
    worker.start()
    try:
        assert holding.wait(20), "the import never reported progress"
        started = time.monotonic()
        membership_set(project=project, user=user, role=Role.ANNOTATOR)
        took = time.monotonic() - started
    finally:
        release.set()
        worker.join(30)
    assert took < 1.0, f"adding a member waited {took:.1f} s for the import"
    assert Membership.objects.filter(user=user, project=project).exists()
    assert Chain.objects.filter(project=project).count() == 2500
