"""Plain per-step voting rules, without numpy: exports import these, and every process imports exports
(Celery's task discovery), so keeping numpy out of them keeps it out of processes that never aggregate."""

from collections import Counter
from collections.abc import Sequence


def consensus(ratings_by_annotator: Sequence[Sequence[int | None]], step_count: int) -> list[int | None]:
    """Per step, the most common rating among those given; a tie goes to the lower (more cautious) rating.

    A step nobody rated stays None.
    """
    result: list[int | None] = []
    for index in range(step_count):
        votes = Counter(r[index] for r in ratings_by_annotator if index < len(r) and r[index] is not None)
        if not votes:
            result.append(None)
            continue
        best = max(votes.values())
        result.append(min(rating for rating, n in votes.items() if n == best))
    return result


def first_error(ratings: Sequence[int | None]) -> int:
    """0-based index of the first step rated -1, or -1 when there is none (ProcessBench's `label`)."""
    return next((i for i, r in enumerate(ratings) if r == -1), -1)
