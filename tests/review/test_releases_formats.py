"""Pure parts of releases: the consensus shortcut, the split by problem, the Math-Shepherd tag rule."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from review.exporters import ChainRecord, LabelSet
from review.releases_build import _consensus
from review.releases_formats import FormatRefusal, math_shepherd_row, preference_rows, problem_split
from review.voting import consensus

ratings = st.lists(st.sampled_from([-1, 0, 1, None]), min_size=1, max_size=8)


@given(st.integers(1, 8).flatmap(lambda n: st.lists(st.lists(st.sampled_from([-1, 0, 1, None]), min_size=n,
                                                             max_size=n), min_size=1, max_size=5)))
def test_the_consensus_is_review_aggregations_and_its_agreement_the_lowest_share(sets):
    n = len(sets[0])
    got, agreement = _consensus(sets, n)
    assert got == consensus(sets, n)
    shares = [sum(v == c for v in votes) / len(votes) for c, votes in
              ((c, [s[i] for s in sets if s[i] is not None]) for i, c in enumerate(got)) if c is not None]
    assert agreement == pytest.approx(min(shares, default=1.0))


def test_the_split_depends_on_the_problem_seed_and_share_only():
    hashes = [f"{i:064x}" for i in range(2000)]
    split = [problem_split(h, test_fraction=0.2, seed="s") for h in hashes]
    assert split == [problem_split(h, test_fraction=0.2, seed="s") for h in hashes]
    assert 0.15 < split.count("test") / len(split) < 0.25
    assert split != [problem_split(h, test_fraction=0.2, seed="other") for h in hashes]
    assert {problem_split(h, test_fraction=0, seed="s") for h in hashes} == {"train"}


def record(steps, label_sets=(), problem="p"):
    return ChainRecord(source_id="c", source_model="m", problem=problem, reference_answer="", steps=list(steps),
                       metadata={}, label_sets=list(label_sets))


def test_math_shepherd_refuses_a_text_with_the_step_tag_rather_than_miscount():
    row = math_shepherd_row(record(["a", "b"]), [1, -1])
    assert row["input"] == "p Step 1: a ки\nStep 2: b ки" and row["label"] == "p Step 1: a +\nStep 2: b -"
    with pytest.raises(FormatRefusal, match="step tag"):
        math_shepherd_row(record(["a ки", "b"]), [1, 1])
    assert math_shepherd_row(record(["a"]), [0], neutral="negative")["value"] == ["-"]
    assert math_shepherd_row(record(["a"]), [None]) is None


def test_preference_pairs_from_corrections_and_alternatives_at_the_same_prefix():
    corrected = LabelSet(labeler="x", finish_reason="found_error", ratings=[1, -1], flagged=[None, None],
                         corrections=["", "better"], active_seconds=0, submitted_at="")
    offered = LabelSet(labeler="y", finish_reason="solution", ratings=[1, 1], flagged=[None, None],
                       corrections=["", ""], active_seconds=0, submitted_at="",
                       candidates={1: [("model", 0, "good", 1, None, True), ("model", 1, "bad", -1, None, False),
                                       ("model", 2, "meh", 0, None, False)]})
    rows = preference_rows(record(["s1", "s2"], [corrected, offered]))
    assert [(r["chosen"], r["rejected"], r["origin"]) for r in rows] == [("better", "s2", "correction"),
                                                                         ("good", "bad", "alternatives")]
    assert all(r["prompt"] == "p\n\ns1\n" for r in rows)
