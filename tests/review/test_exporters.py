"""Row builders and consensus (pure: no database)."""

from hypothesis import given
from hypothesis import strategies as st

from review.aggregation import consensus, first_error
from review.exporters import ChainRecord, LabelSet, processbench_row, trl_stepwise_row


def record(*rating_lists):
    n = max(len(r) for r in rating_lists)
    sets = [LabelSet(labeler=f"a{i}", finish_reason="found_error", ratings=list(r), flagged=[None] * n,
                     corrections=[""] * n, active_seconds=0, submitted_at="") for i, r in enumerate(rating_lists)]
    return ChainRecord(source_id="c", source_model="m", problem="p", reference_answer="", steps=[f"s{i}" for i in range(n)],
                       metadata={}, label_sets=sets)


def test_consensus_takes_the_majority_and_breaks_ties_cautiously():
    assert consensus([[1, 1, -1], [1, -1, -1], [1, 1, 1]], 3) == [1, 1, -1]
    assert consensus([[1, 0], [-1, 1]], 2) == [-1, 0]
    assert consensus([[1, None], [None, None]], 2) == [1, None]


def test_trl_row_stops_at_the_first_error_and_maps_neutral_to_true():
    row = trl_stepwise_row(record([1, 0, -1, 1]))
    assert row == {"id": "c", "prompt": "p", "completions": ["s0", "s1", "s2"], "labels": [True, True, False]}


def test_trl_row_ends_before_an_unrated_step_and_skips_unlabelled_chains():
    assert trl_stepwise_row(record([1, None, 1]))["completions"] == ["s0"]
    assert trl_stepwise_row(record([None, 1])) is None
    empty = record([1])
    empty.label_sets = []
    assert trl_stepwise_row(empty) is None and processbench_row(empty) is None


def test_processbench_label_is_the_first_minus_one():
    assert processbench_row(record([1, 1, -1, -1]))["label"] == 2
    assert processbench_row(record([1, 0, 1]))["label"] == -1


@given(st.lists(st.lists(st.sampled_from([-1, 0, 1, None]), min_size=5, max_size=5), min_size=1, max_size=5))
def test_consensus_only_returns_ratings_someone_gave(votes):
    result = consensus(votes, 5)
    for index, value in enumerate(result):
        given_here = {v[index] for v in votes if v[index] is not None}
        assert (value is None) == (not given_here)
        assert value is None or value in given_here
    assert first_error(result) == next((i for i, r in enumerate(result) if r == -1), -1)


def test_reference_labels_are_not_votes_beside_annotators():
    """A chain imported with ProcessBench's label (first error at step 0) and annotated once as all right: the
    consensus is the annotator's; counting the reference as a vote made the tie go to −1."""
    chain = record([-1, 1, 1], [1, 1, 1])
    chain.label_sets[0].reference = True
    assert chain.consensus() == [1, 1, 1]
    assert processbench_row(chain)["label"] == -1
    # Two annotators against one reference: the reference cannot break their tie either.
    three = record([1, 1], [1, -1], [1, 1])
    three.label_sets[0].reference = True
    assert three.consensus() == [1, -1]


def test_a_chain_with_only_reference_labels_goes_out_with_them():
    only = record([1, -1, 1], [1, 1, 1])
    for label_set in only.label_sets:
        label_set.reference = True  # e.g. two PRM800K labelers: their own majority
    assert only.consensus() == [1, -1, 1]
    single = record([1, -1])
    single.label_sets[0].reference = True
    assert single.consensus() == [1, -1]


# prm800k_lines joins each step's JSON from pieces instead of dumping a dict per step; whatever the label set
# holds (ratings and flags of any type, corrections, candidates, PRM800K's null steps, extra step fields, a
# key order, source metadata), its lines must be the dict path's bytes.
_texts = st.text(alphabet=st.sampled_from(['a', '"', '\\', '\n', 'ü', 'к', '\u2028', ' ']), max_size=4)
_label_set = st.builds(
    LabelSet, labeler=_texts, finish_reason=st.sampled_from(["solution", "found_error"]),
    ratings=st.one_of(st.lists(st.sampled_from([-1, 0, 1, None]), max_size=6),
                      st.lists(st.sampled_from([-1, 2, None, True]), max_size=3)),
    flagged=st.one_of(st.lists(st.sampled_from([None, True, False]), max_size=6), st.lists(st.just(1), max_size=2)),
    corrections=st.one_of(st.just([]), st.lists(st.sampled_from(["", "fix"]), max_size=6)),
    active_seconds=st.integers(0, 10**6),
    submitted_at=st.sampled_from(["", "2026-01-01T00:00:00+00:00"]),
    source_meta=st.sampled_from([{}, {}, {"null_steps": [0]}, {"step_extra": {"0.x": 1}}, {"key_order": ["labeler", "id"]},
                                 {"label_extra": {"steps": 5}}, {"labeler": "L", "timestamp": "t", "total_time": 5,
                                                                 "question": {"ground_truth_solution": "s"}}]),
    candidates=st.sampled_from([{}, {}, {0: [("model", 0, "c", 1, None, True), ("human", 0, "h", None, False, False)]}]))


@given(st.lists(_texts, max_size=6), st.lists(_label_set, max_size=3), st.booleans(),
       st.sampled_from([{}, {"prm800k_question": {"ground_truth_solution": "x", "k": 1}}]), _texts)
def test_prm800k_lines_are_the_bytes_of_the_dict_rows(texts, label_sets, stored, metadata, problem):
    import orjson

    from review.exporters import StepsJson, dumps_row, prm800k_lines, prm800k_rows

    if len(label_sets) > 1:
        label_sets[1].ratings = list(label_sets[0].ratings)  # label sets that agree share their steps' JSON
    steps = StepsJson(orjson.dumps(texts), len(texts)) if stored else texts
    chain = ChainRecord(source_id="c1", source_model="m", problem=problem, reference_answer="4", steps=steps,
                        metadata=metadata, label_sets=label_sets)
    plain = ChainRecord(**{**chain.__dict__, "steps": list(texts)})
    assert prm800k_lines(chain) == [dumps_row(row) for row in prm800k_rows(plain)]
