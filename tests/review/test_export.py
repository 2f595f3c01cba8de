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
    return "".join(export_lines(project=project, fmt=fmt))


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

    def test_outsider_and_annotator_get_404(self, imported, outsider, annotator, api_client):
        assert api_client(outsider).get(self.url(imported)).status_code == 404
        assert api_client(annotator).get(self.url(imported)).status_code == 404


@pytest.mark.django_db
def test_postgresql_stream_and_batched_path_give_the_same_bytes(project, annotator, annotator2):
    """The embedded default (SQLite) reads batches; PostgreSQL streams one query. Same output, every format."""
    from django.db import connection

    from review import selectors

    if connection.vendor != "postgresql":
        pytest.skip("the streamed path is PostgreSQL's")
    # first, so both annotators are given this chain (queue order)
    chains_import(project=project, data='{"id": "odd", "problem": "\\"q\\" \\u0001 ☃ 𝔸", "steps": ["a\\\\b", "tab\\there"]}'.encode())
    chains_import(project=project, data=(DEMO_DATA / "processbench_math_excerpt.json").read_bytes())
    chains_import(project=project, data=(FIXTURES / "prm800k_sample.jsonl").read_bytes())
    for user, reason, ratings in ((annotator, "found_error", [1, -1]), (annotator2, "give_up", [0])):
        a = assignment_claim_next(project=project, user=user)
        a = assignment_labels_save(assignment=a, user=user, version=a.version,
                                   labels=[LabelInput(i, r, correction="fix" if r == -1 else "") for i, r in enumerate(ratings)])
        assignment_submit(assignment=a, user=user, finish_reason=reason, version=a.version)
    streamed = {fmt: exported(project, fmt) for fmt in ("processbench", "trl-stepwise", "prm800k")}

    def batched(fmt):
        encode = json.JSONEncoder(ensure_ascii=False).encode
        records = selectors._chain_records_batched(project, fmt == "prm800k")
        if fmt == "prm800k":
            return "".join(encode(row) + "\n" for r in records for row in selectors.prm800k_rows(r))
        rows = [row for r in records if (row := selectors._BUILDERS[fmt](r)) is not None]
        if fmt == "processbench":
            return "[\n" + ",\n".join(map(encode, rows)) + "\n]\n"
        return "".join(encode(row) + "\n" for row in rows)

    for fmt, text in streamed.items():
        assert text == batched(fmt), fmt
    rows = json.loads(streamed["processbench"])
    assert len(rows) == 10 + 5 + 1 and rows[0]["id"] == "odd" and rows[0]["label"] == 1
