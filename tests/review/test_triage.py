"""Which chains go to review, and the dashboard's SVG: pure, no database."""

import xml.etree.ElementTree as ET

import pytest
from hypothesis import given
from hypothesis import strategies as st

from review.quality import StepLabels, krippendorff_alpha
from review.quality.charts import Series, bar_chart, line_chart
from review.quality.triage import LabelSetInput, majority, triage_chain


def sets(*ratings_lists, seconds=100):
    return [LabelSetInput(coder=f"a{i}", ratings=dict(enumerate(r)), active_seconds=seconds)
            for i, r in enumerate(ratings_lists)]


def test_any_step_rule_finds_the_contested_steps():
    found = triage_chain(sets([1, 1, 1], [1, 0, 1]), rule="any_step")
    assert found.reasons == ["step_disagreement"] and found.contested == [1]


def test_first_error_rule_reads_only_the_first_minus_one():
    assert triage_chain(sets([1, -1, 1], [1, -1, 0]), rule="first_error").reasons == []
    found = triage_chain(sets([1, -1], [-1, 1]), rule="first_error")
    assert found.reasons == ["first_error_disagreement"] and found.first_errors == {"a0": 1, "a1": 0}
    assert triage_chain(sets([1, 1], [1, -1]), rule="first_error").first_errors == {"a0": -1, "a1": 1}


def test_alpha_rule_by_hand():
    # Two coders, values (1,1), (1,1), (1,-1), (-1,-1): nominal and ordinal α on 2 values coincide:
    # o = [[2,1],[1,4]] (−1 first), n = 8, n_−1 = 3, n_1 = 5; α = 1 − 7 · 2 / (2 · 3 · 5) = 0.5333
    found = triage_chain(sets([1, 1, 1, -1], [1, 1, -1, -1]), rule="alpha_below", alpha_threshold=0.6)
    assert found.alpha == pytest.approx(1 - 7 * 2 / 30)
    assert found.reasons == ["low_alpha"]
    assert triage_chain(sets([1, 1, 1, -1], [1, 1, -1, -1]), rule="alpha_below", alpha_threshold=0.5).reasons == []
    # identical labels: α undefined without variation or 1 with it; never "low"
    assert triage_chain(sets([1, 1], [1, 1]), rule="alpha_below").reasons == []
    assert triage_chain(sets([1, -1], [1, -1]), rule="alpha_below").alpha == 1.0


def test_flags():
    mismatch = triage_chain(sets([1, -1], [1, -1]), rule="any_step", answer_correct=True)
    assert mismatch.reasons == ["outcome_process_mismatch"]
    assert triage_chain(sets([1, -1], [1, -1]), rule="any_step", answer_correct=None).reasons == []
    fast = triage_chain(sets([1, 1], [1, 1], seconds=1), rule="any_step", fast_seconds_per_step=2)
    assert fast.reasons == ["fast_annotation"] and fast.fast == ["a0", "a1"]
    far = triage_chain(sets([1, 1, 1, 1], [1, 1, 1, 0], [-1, -1, 0, 1]), rule="any_step")
    assert far.far == ["a2"] and "far_from_consensus" in far.reasons
    # Everyone apart from everyone: nobody is the outlier.
    assert triage_chain(sets([1], [0], [-1]), rule="any_step").far == []


def test_bad_rule_is_refused():
    with pytest.raises(ValueError, match="rule must be one of any_step, first_error, alpha_below"):
        triage_chain(sets([1]), rule="often")


def test_majority_ties_go_to_the_lower_rating():
    assert majority([1, -1]) == -1 and majority([1, 1, 0]) == 1 and majority([]) is None


ratings = st.lists(st.sampled_from([-1, 0, 1]), min_size=1, max_size=8)


@given(st.lists(ratings, min_size=2, max_size=5))
def test_identical_label_sets_never_reach_the_queue_by_the_rule(lists):
    same = [lists[0]] * len(lists)
    for rule in ("any_step", "first_error", "alpha_below"):
        assert triage_chain(sets(*same), rule=rule).reasons == []


@given(st.lists(ratings, min_size=2, max_size=5), st.randoms())
def test_triage_does_not_depend_on_the_annotators_order(lists, random):
    shuffled = list(lists)
    random.shuffle(shuffled)
    a, b = triage_chain(sets(*lists), rule="any_step"), triage_chain(sets(*shuffled), rule="any_step")
    assert a.reasons == b.reasons and a.contested == b.contested
    assert (a.alpha is None) == (b.alpha is None) and (a.alpha is None or a.alpha == pytest.approx(b.alpha))


@given(st.lists(ratings, min_size=2, max_size=5))
def test_chain_alpha_equals_the_array_measure(lists):
    found = triage_chain(sets(*lists), rule="alpha_below").alpha
    rows = [(0, step, i, r) for i, r_list in enumerate(lists) for step, r in enumerate(r_list)]
    expected = krippendorff_alpha(StepLabels.from_rows(rows), resamples=0).value
    assert (found is None) == (expected is None)
    if found is not None:
        assert found == pytest.approx(expected, abs=1e-9)


def test_charts_are_well_formed_svg_and_escape_labels():
    svg = bar_chart(["<script>alert(1)</script>", "bob"], [Series("agreement", [0.5, None])], title="t & u")
    root = ET.fromstring(svg)  # noqa: S314 (our own output, checked to be well-formed XML)
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    assert len(root.findall(".//{http://www.w3.org/2000/svg}rect")) == 2  # legend + one bar (None left out)
    line = line_chart(["1", "2", "3"], [Series("α", [0.2, None, 0.9], [0.1, None, 0.8], [0.3, None, 1.0])], title="x")
    circles = ET.fromstring(line).findall(".//{http://www.w3.org/2000/svg}circle")  # noqa: S314
    assert len(circles) == 2 and "0.900" in line
