"""Parsing import files (pure: no database)."""

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from annotation.formats import FileRefused, parse_file
from annotation.segmentation import split_steps
from tests.conftest import DEMO_DATA, FIXTURES


def refused(data: bytes, **kwargs) -> list:
    with pytest.raises(FileRefused) as caught:
        parse_file(data, filename="upload.jsonl", **kwargs)
    return caught.value.errors


def jsonl(*rows) -> bytes:
    return "\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows).encode()


GOOD = {"id": "c1", "problem": "What is 1+1?", "steps": ["1+1=2", "So 2."]}


def test_processbench_array_parses_labels_as_expert_annotation():
    fmt, chains = parse_file((DEMO_DATA / "processbench_gsm8k_excerpt.json").read_bytes())
    assert fmt == "processbench"
    assert len(chains) == 20
    source = json.loads((DEMO_DATA / "processbench_gsm8k_excerpt.json").read_text())
    for item, chain in zip(source, chains, strict=True):
        labels = chain.labels[0]
        assert labels.source == "processbench"
        k = item["label"]
        if k == -1:
            assert labels.ratings == [1] * len(item["steps"]) and labels.finish_reason == "solution"
        else:
            assert labels.ratings[:k] == [1] * k and labels.ratings[k] == -1
            assert all(r is None for r in labels.ratings[k + 1:])
            assert labels.first_error_step == k and labels.finish_reason == "found_error"


def test_prm800k_real_rows_with_null_ratings_and_object_human_completion():
    fmt, chains = parse_file((FIXTURES / "prm800k_sample.jsonl").read_bytes())
    assert fmt == "prm800k"
    assert len(chains) == 5
    give_up = next(c for c in chains if c.labels[0].finish_reason == "give_up")
    # the step where the labeler wrote their own completion carries the human text
    row = json.loads((FIXTURES / "prm800k_sample.jsonl").read_text().splitlines()[1])
    human_steps = [s["human_completion"]["text"] for s in row["label"]["steps"] if s and s["human_completion"]]
    assert human_steps and all(text in give_up.steps for text in human_steps)
    found = [c for c in chains if c.labels[0].finish_reason == "found_error"]
    assert all(c.labels[0].ratings[c.labels[0].first_error_step] == -1 for c in found)


def test_stepwise_text_is_split_by_the_requested_segmentation_and_recorded():
    row = {"id": "t", "problem": "p", "text": "Step 1: a = 2\nStep 2: so $a^2 = 4$.", "segmentation": "step_marker"}
    _, [chain] = parse_file(jsonl(row))
    assert chain.steps == ["a = 2", "so $a^2 = 4$."]
    assert chain.segmentation == "step_marker"
    assert [row["text"][s:e] for s, e in chain.spans] == chain.steps


def test_repeated_id_in_one_file_is_refused_naming_both_lines():
    errors = refused(jsonl(GOOD, {**GOOD, "steps": ["other"]}))
    assert errors[0].line == 2 and errors[0].field == "id" and "line 1" in errors[0].message


@pytest.mark.parametrize(
    ("data", "line", "field", "words"),
    [
        (jsonl(GOOD, '{"id": "c2", "problem": "x", "steps": ["a"'), 2, "", "cut off"),
        (jsonl(GOOD, {**GOOD, "id": "c2", "steps": "one step"}), 2, "steps", "expected a list"),
        (jsonl({**GOOD, "steps": ["ok", 3]}), 1, "steps[1]", "expected a string"),
        (jsonl({"id": "c1", "steps": ["a"]}), 1, "problem", "missing"),
        (jsonl({"problem": "p", "steps": ["a"]}), 1, "id", "missing"),
        (jsonl({**GOOD, "steps": []}), 1, "steps", "empty"),
        (jsonl({**GOOD, "text": "a"}), 1, "steps", "not both"),
        (GOOD and json.dumps(GOOD).encode() + b"\n" + b'{"id": "\xff\xfe", "problem": "p", "steps": ["a"]}', 2, "", "UTF-8"),
        (jsonl(GOOD, "[1, 2]"), 2, "", "must be an object"),
    ],
    ids=["truncated", "wrong-type", "wrong-item-type", "missing-problem", "missing-id", "empty-steps", "both",
         "invalid-utf8", "not-an-object"],
)
def test_malformed_stepwise_rows_are_refused_with_line_and_field(data, line, field, words):
    errors = refused(data, fmt="stepwise")
    assert (errors[0].line, errors[0].field) == (line, field)
    assert words in errors[0].message


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"label": 7}, "label", "below 4"),
        ({"label": -2}, "label", "-1"),
        ({"label": "1"}, "label", "whole number"),
        ({"label": True}, "label", "whole number"),
        ({"final_answer_correct": "yes"}, "final_answer_correct", "true or false"),
    ],
)
def test_processbench_label_out_of_range_or_wrong_type_is_refused(change, field, words):
    item = {"id": "x", "generator": "m", "problem": "p", "steps": ["a", "b", "c", "d"],
            "final_answer_correct": False, "label": 1}
    data = json.dumps([item, {**item, "id": "y", **change}], indent=1).encode()
    errors = refused(data, fmt="processbench")
    assert errors[0].field == field and words in errors[0].message
    # line of the second item in the pretty-printed array
    assert errors[0].line == data.decode().splitlines().index("  \"id\": \"y\",")


def test_processbench_array_not_closed_is_refused():
    data = (DEMO_DATA / "processbench_gsm8k_excerpt.json").read_bytes()[:-200]
    errors = refused(data, fmt="processbench")
    assert errors[-1].line > 1


def test_prm800k_rating_out_of_range_names_the_nested_field():
    rows = (FIXTURES / "prm800k_sample.jsonl").read_text().splitlines()
    bad = json.loads(rows[0])
    bad["label"]["steps"][1]["completions"][2]["rating"] = 2
    errors = refused("\n".join([rows[1], json.dumps(bad)]).encode())
    assert errors[0].line == 2
    assert errors[0].field == "label.steps[1].completions[2].rating"


def test_every_bad_line_is_reported_not_only_the_first():
    errors = refused(jsonl({**GOOD, "id": "a", "steps": 1}, GOOD, {**GOOD, "id": "b", "problem": ""}))
    assert [(e.line, e.field) for e in errors] == [(1, "steps"), (3, "problem")]


@given(st.lists(st.text(alphabet="ab $\\x\n\t", min_size=0, max_size=12), min_size=0, max_size=8),
       st.sampled_from(["newline", "blank_line", "step_marker"]))
def test_segmentation_spans_point_at_each_step(pieces, mode):
    raw = "\n".join(pieces)
    spans = split_steps(raw, mode)
    for span in spans:
        assert raw[span.start:span.end] == span.text
        assert span.text == span.text.strip() and span.text
    assert [s.start for s in spans] == sorted(s.start for s in spans)
