"""The importers fuzzed (hypothesis): whatever bytes or JSON arrive, an import either succeeds or is refused
with rows named; it never crashes and a refusal writes nothing (no partial import)."""

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from annotation.exceptions import ValidationFailed
from annotation.formats import FileRefused
from annotation.models import Chain, ChainRevision, ImportedLabelSet, Problem
from annotation.services import chains_import

FORMATS = ("auto", "stepwise", "processbench", "prm800k")

scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=False),
                    st.text(max_size=30))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                                           max_size=4), max_leaves=20)
# Rows shaped like the formats (so the fuzzer reaches the field checks, not only the JSON reader), with
# every field free to be anything.
KEYS = ["id", "problem", "steps", "text", "answer", "reference_answer", "label", "question", "generation",
        "final_answer_correct", "metadata", "model", "segmentation", "final_answer"]
rows = st.dictionaries(st.sampled_from(KEYS), values | st.lists(st.text(max_size=40), max_size=5), max_size=8)


def counts():
    return (Chain.objects.count(), Problem.objects.count(), ChainRevision.objects.count(),
            ImportedLabelSet.objects.count())


def attempt(project, data: bytes, fmt: str):
    before = counts()
    try:
        chains_import(project=project, data=data, fmt=fmt, filename="fuzz.json")
    except FileRefused as refused:
        assert refused.errors, "a refusal names at least one problem"
        for error in refused.errors:
            assert error.message and isinstance(error.line, int)
        assert counts() == before, "a refused file wrote something"
    except ValidationFailed as failed:
        assert failed.message
        assert counts() == before


@pytest.mark.django_db
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(data=st.binary(max_size=400), fmt=st.sampled_from(FORMATS))
def test_arbitrary_bytes_never_crash_an_import(project, data, fmt):
    attempt(project, data, fmt)


@pytest.mark.django_db
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(items=st.lists(rows, min_size=1, max_size=5), fmt=st.sampled_from(FORMATS), lines=st.booleans())
def test_format_shaped_rows_are_imported_whole_or_refused_whole(project, items, fmt, lines):
    text = "\n".join(json.dumps(item) for item in items) if lines else json.dumps(items)
    attempt(project, text.encode(), fmt)
