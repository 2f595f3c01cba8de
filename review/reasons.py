"""Why a chain is in the review queue: the rule's reasons and the flags, with the words pages show.

Pure constants, no imports: the chain list's filters (review/chain_filters.py, loaded at start-up) read
them without loading review.quality, whose measures bring numpy (tests/platform/test_startup.py).
"""

RULE_REASONS = {"any_step": "step_disagreement", "first_error": "first_error_disagreement", "alpha_below": "low_alpha"}
FLAG_REASONS = ("outcome_process_mismatch", "fast_annotation", "far_from_consensus")
REASON_TEXT = {
    "step_disagreement": "Annotators rated a step differently",
    "first_error_disagreement": "Annotators disagree on the first wrong step",
    "low_alpha": "Agreement (α) on this chain is below the project's threshold",
    "outcome_process_mismatch": "Right final answer, but a step was rated −1",
    "fast_annotation": "An annotation was suspiciously fast",
    "far_from_consensus": "One annotator is far from the others",
    "no_agreement": "Still no agreement with the most annotators the policy collects",
}
