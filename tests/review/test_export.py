"""Exports from the database: each format round-trips what came in and carries annotators' labels."""

import json

import pytest
from django.core.management import call_command
from django.urls import reverse

from annotation.services import (
    LabelInput,
    assignment_claim_next,
    assignment_labels_save,
    assignment_submit,
    chains_import,
)
from review.selectors import export_lines, export_rows
from tests.conftest import DEMO_DATA, FIXTURES


def exported(project, fmt):
    return b"".join(export_lines(project=project, fmt=fmt)).decode()


@pytest.mark.django_db
def test_processbench_import_exports_back_identically(project):
    data = (DEMO_DATA / "processbench_gsm8k_excerpt.json").read_bytes()
    chains_import(project=project, data=data)
    assert json.loads(exported(project, "processbench")) == json.loads(data)


@pytest.mark.django_db
def test_prm800k_import_exports_back_as_the_real_rows_plus_id(project):
    data = (FIXTURES / "prm800k_sample.jsonl").read_text()
    chains_import(project=project, data=data.encode())
    rows = [json.loads(line) for line in exported(project, "prm800k").splitlines()]
    originals = [json.loads(line) for line in data.splitlines()]
    assert all(row.pop("id").startswith("prm800k-") for row in rows)
    assert sorted(rows, key=json.dumps) == sorted(originals, key=json.dumps)
    # and each row keeps its original key order
    assert all(list(r) == list(next(o for o in originals if o == r)) for r in rows)


@pytest.mark.django_db
def test_annotators_labels_reach_every_format(project, annotator):
    chains_import(project=project, data=b'{"id": "q1", "problem": "What is $1+1$?", "steps": ["1+1=3", "So 3."]}')
    a = assignment_claim_next(project=project, user=annotator)
    a = assignment_labels_save(assignment=a, user=annotator, version=a.version,
                               labels=[LabelInput(0, -1, correction="1+1=2")])
    assignment_submit(assignment=a, user=annotator, finish_reason="found_error", version=a.version)

    [pb] = json.loads(exported(project, "processbench"))
    assert pb["id"] == "q1" and pb["label"] == 0
    [trl] = export_rows(project=project, fmt="trl-stepwise")
    assert trl == {"id": "q1", "prompt": "What is $1+1$?", "completions": ["1+1=3"], "labels": [False]}
    [prm] = export_rows(project=project, fmt="prm800k")
    assert prm["labeler"] == "ann1" and prm["id"] == "q1"
    assert prm["label"]["finish_reason"] == "found_error"
    [step] = prm["label"]["steps"]
    assert step["completions"] == [{"text": "1+1=3", "rating": -1, "flagged": None}]
    assert step["human_completion"]["text"] == "1+1=2" and step["chosen_completion"] is None


@pytest.mark.django_db
def test_unlabelled_chains_are_left_out(project):
    chains_import(project=project, data=b'{"id": "bare", "problem": "p", "steps": ["a"]}')
    assert json.loads(exported(project, "processbench")) == []
    assert exported(project, "trl-stepwise") == "" and exported(project, "prm800k") == ""


@pytest.mark.django_db
def test_export_command_writes_the_file_atomically(imported, tmp_path, capsys):
    out = tmp_path / "pb.json"
    call_command("export_dataset", "--project", imported.slug, "--format", "processbench", "--out", str(out),
                 "--no-progress")
    assert len(json.loads(out.read_text())) == 20
    assert not (tmp_path / "pb.json.partial").exists()
    assert "20 rows" in capsys.readouterr().out


@pytest.mark.django_db
def test_export_query_count_does_not_grow_with_chains(project, django_assert_max_num_queries):
    chains_import(project=project, data=(DEMO_DATA / "processbench_gsm8k_excerpt.json").read_bytes())
    with django_assert_max_num_queries(8):
        rows = list(export_rows(project=project, fmt="prm800k"))
    assert len(rows) == 20


@pytest.mark.django_db
class TestExportApi:
    def url(self, project, fmt="processbench"):
        return reverse("api-export", args=[project.slug]) + f"?format={fmt}"

    def test_researcher_downloads_a_stream(self, imported, researcher, api_client):
        response = api_client(researcher).get(self.url(imported))
        assert response.status_code == 200 and response.streaming
        assert "attachment" in response["Content-Disposition"]
        assert len(json.loads(b"".join(response.streaming_content))) == 20

    def test_unknown_format_says_which_exist(self, imported, researcher, api_client):
        response = api_client(researcher).get(self.url(imported, "csv"))
        assert response.status_code == 400 and "trl-stepwise" in json.dumps(response.json())

    def test_anonymous_is_refused(self, imported, api_client):
        assert api_client().get(self.url(imported)).status_code in (401, 403)

    def test_outsider_gets_404_and_annotator_403(self, imported, outsider, annotator, api_client):
        assert api_client(outsider).get(self.url(imported)).status_code == 404
        assert api_client(annotator).get(self.url(imported)).status_code == 403


@pytest.mark.django_db
def test_stored_step_json_goes_out_as_encoding_the_row_would_write_it(project, annotator, annotator2):
    """Unedited chains' steps are spliced into the rows as stored; the bytes equal encoding the decoded row."""
    import orjson

    from review import selectors
    from review.exporters import StepsJson, dumps_row

    odd = {"id": "odd", "problem": "\"q\" \u0001 ☃ 𝔸", "steps": ["a\\b", "tab\there", "ctl \u0007 \u001f </script>"]}
    chains_import(project=project, data=json.dumps(odd).encode())
    chains_import(project=project, data=(DEMO_DATA / "processbench_math_excerpt.json").read_bytes())
    chains_import(project=project, data=(FIXTURES / "prm800k_sample.jsonl").read_bytes())
    for user, reason, ratings in ((annotator, "found_error", [1, -1]), (annotator2, "give_up", [0])):
        a = assignment_claim_next(project=project, user=user)
        saved = assignment_labels_save(assignment=a, user=user, version=a.version,
                                       labels=[LabelInput(i, r, correction="fix" if r == -1 else "")
                                               for i, r in enumerate(ratings)])
        assignment_submit(assignment=a, user=user, finish_reason=reason, version=saved.version)
    spliced = 0
    for fmt in ("processbench", "trl-stepwise"):
        for row in selectors._rows(project, fmt):
            steps_key = "steps" if fmt == "processbench" else "completions"
            if isinstance(row[steps_key], StepsJson):
                spliced += 1
            plain = {**row, steps_key: list(row[steps_key])}
            assert dumps_row(row) == orjson.dumps(plain)
    assert spliced > 10
    rows = json.loads(exported(project, "processbench"))
    assert len(rows) == 1 + 10 + 5 and rows[0]["id"] == "odd" and rows[0]["label"] == 1
    assert rows[0]["steps"] == odd["steps"] and rows[0]["problem"] == odd["problem"]
