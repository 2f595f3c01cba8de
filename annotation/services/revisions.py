"""Edits of a chain's steps: split, merge, reword, insert, delete, re-segment.

Each edit makes a new revision that reuses every unchanged step (annotation/steps.py): a one-step
edit writes two rows (the revision, the chain's counters) whatever the chain's length, and labels,
first-error marks and critiques keep pointing at the text they judged. Open assignments stay on the
revision their annotator was shown; new claims get the new one.
"""

from django.conf import settings
from django.db import transaction

from .. import steps as step_store
from ..exceptions import Conflict, NotFound, ValidationFailed
from ..models import Chain, ChainRevision, RevisionKind
from ..segmentation import MODES, split_steps
from ..selectors import stored_revisions


def _check_texts(texts: list[str], field: str) -> None:
    limit = settings.STEPWISE_IMPORT_MAX_STEP_CHARS
    for i, text in enumerate(texts):
        where = field if len(texts) == 1 else f"{field}[{i}]"
        if not isinstance(text, str) or not text.strip():
            raise ValidationFailed("a step cannot be empty; write its text, or delete the step instead.", field=where)
        if len(text) > limit:
            raise ValidationFailed(f"a step is at most {limit:,} characters; this one is {len(text):,}.", field=where)
        if "\x00" in text:
            raise ValidationFailed("a step cannot contain a NUL character (\\u0000); remove it.", field=where)


def _edit(*, chain: Chain, user, revision: int, kind: str, detail: dict, make) -> ChainRevision:
    """Lock the chain, check it is still at `revision`, let `make(keys, rows)` build the edit, write it.

    FOR NO KEY UPDATE on the chain row: it serializes edits of this chain and leaves inserts that
    point at the chain (claims, labels) unblocked.
    """
    with transaction.atomic():
        locked = (Chain.objects.select_for_update(no_key=True).filter(pk=chain.pk)
                  .values("revision", "next_step_key", "step_count").first())
        if locked is None:
            raise NotFound("No such chain.")
        if locked["revision"] != revision:
            raise Conflict(f"This chain was edited since you loaded it (it is now at revision {locked['revision']}, "
                           f"you edited revision {revision}); reload it and make your change again.",
                           field="revision")
        rows = stored_revisions(chain_id=chain.pk, upto=revision)
        current = next(r for r in rows if r.number == revision)
        keys = step_store.unpack_keys(current.step_keys, current.step_count)
        edit = make(keys, rows)
        if not 0 <= edit.start <= edit.stop <= len(keys):
            raise ValidationFailed(f"steps {edit.start + 1} to {edit.stop} are not in this chain of {len(keys)} steps.",
                                   field="index")
        _check_texts(list(edit.texts), "text")
        new_order, new_keys = step_store.apply_edit(keys, edit, locked["next_step_key"])
        if not new_order:
            raise ValidationFailed("a chain needs at least one step; this edit would leave none.", field="index")
        if len(new_order) > settings.STEPWISE_IMPORT_MAX_STEPS:
            raise ValidationFailed(f"a chain has at most {settings.STEPWISE_IMPORT_MAX_STEPS:,} steps.", field="index")
        created = ChainRevision.objects.create(
            chain_id=chain.pk, number=revision + 1, kind=kind,
            step_keys=step_store.pack_keys(new_order), step_count=len(new_order),
            first_new_key=locked["next_step_key"], new_count=len(new_keys),
            texts=step_store.pack_texts(edit.texts) if new_keys else None,
            detail={**detail, "positions": [edit.start, edit.stop], "new_keys": new_keys},
            created_by=user if getattr(user, "is_authenticated", False) else None)
        Chain.objects.filter(pk=chain.pk).update(revision=revision + 1, step_count=len(new_order),
                                                 next_step_key=locked["next_step_key"] + len(new_keys))
    chain.revision, chain.step_count = revision + 1, len(new_order)
    chain.next_step_key = locked["next_step_key"] + len(new_keys)
    return created


def _text_at(rows, keys: list[int], index: int, field: str = "index") -> str:
    if not 0 <= index < len(keys):
        raise ValidationFailed(f"step {index} is not a step of this chain (0 to {len(keys) - 1}).", field=field)
    return step_store.texts_of(rows, [keys[index]])[0]


def chain_step_split(*, chain: Chain, user, revision: int, index: int, at: int | None = None,
                     texts: list[str] | None = None) -> ChainRevision:
    """Split step `index` (0-based) in two: at character `at` of its text, or into the given `texts`."""

    def make(keys, rows):
        if texts is not None:
            if len(texts) < 2:
                raise ValidationFailed("a split gives at least two steps; send two texts or more.", field="texts")
            return step_store.Edit(index, index + 1, tuple(texts))
        text = _text_at(rows, keys, index)
        if at is None or not 0 < at < len(text):
            raise ValidationFailed(f"split at a character between 1 and {len(text) - 1} of the step.", field="at")
        return step_store.Edit(index, index + 1, (text[:at].strip(), text[at:].strip()))

    return _edit(chain=chain, user=user, revision=revision, kind=RevisionKind.SPLIT,
                 detail={"index": index, "at": at}, make=make)


def chain_steps_merge(*, chain: Chain, user, revision: int, index: int, count: int = 2,
                      separator: str = " ") -> ChainRevision:
    """Merge `count` steps from `index` on into one, joined by `separator`."""
    if count < 2:
        raise ValidationFailed("a merge joins at least two steps.", field="count")

    def make(keys, rows):
        if not index >= 0 or index + count > len(keys):
            raise ValidationFailed(f"steps {index + 1} to {index + count} are not all in this chain of {len(keys)} "
                                   "steps.", field="index")
        texts = step_store.texts_of(rows, keys[index:index + count])
        return step_store.Edit(index, index + count, (separator.join(t.strip() for t in texts),))

    return _edit(chain=chain, user=user, revision=revision, kind=RevisionKind.MERGE,
                 detail={"index": index, "count": count}, make=make)


def chain_step_reword(*, chain: Chain, user, revision: int, index: int, text: str) -> ChainRevision:
    def make(keys, rows):
        if _text_at(rows, keys, index) == text:
            raise ValidationFailed("the new text is the same as the old one; nothing to change.", field="text")
        return step_store.Edit(index, index + 1, (text,))

    return _edit(chain=chain, user=user, revision=revision, kind=RevisionKind.REWORD, detail={"index": index},
                 make=make)


def chain_step_insert(*, chain: Chain, user, revision: int, index: int, text: str) -> ChainRevision:
    """Insert a new step before position `index` (the chain's length appends it)."""
    return _edit(chain=chain, user=user, revision=revision, kind=RevisionKind.INSERT, detail={"index": index},
                 make=lambda keys, rows: step_store.Edit(index, index, (text,)))


def chain_step_delete(*, chain: Chain, user, revision: int, index: int) -> ChainRevision:
    def make(keys, rows):
        _text_at(rows, keys, index)
        return step_store.Edit(index, index + 1, ())

    return _edit(chain=chain, user=user, revision=revision, kind=RevisionKind.DELETE, detail={"index": index},
                 make=make)


def chain_resegment(*, chain: Chain, user, revision: int, mode: str) -> ChainRevision:
    """Split the chain's raw text (or its steps joined by newlines) again with `mode`: all steps are new."""
    if mode not in MODES:
        raise ValidationFailed(f"'{mode}' is not a segmentation; use one of {', '.join(MODES)}.", field="mode")

    def make(keys, rows):
        raw = chain.raw_text or "\n".join(step_store.texts_of(rows, keys))
        pieces = [span.text for span in split_steps(raw, mode)]
        if not pieces:
            raise ValidationFailed(f"the text has no steps when split by {mode}.", field="mode")
        return step_store.Edit(0, len(keys), tuple(pieces))

    return _edit(chain=chain, user=user, revision=revision, kind=RevisionKind.RESEGMENT, detail={"mode": mode},
                 make=make)


EDIT_OPS = ("split", "merge", "reword", "insert", "delete", "resegment")


def chain_edit(*, chain: Chain, user, revision: int, op: str, index: int = 0, at: int | None = None,
               texts: list[str] | None = None, text: str = "", count: int = 2, separator: str = " ",
               mode: str = "") -> ChainRevision:
    """One entry point for the API and the step editor page: the edit `op` with its arguments."""
    common = {"chain": chain, "user": user, "revision": revision}
    if op == "split":
        return chain_step_split(**common, index=index, at=at, texts=texts)
    if op == "merge":
        return chain_steps_merge(**common, index=index, count=count, separator=separator)
    if op == "reword":
        return chain_step_reword(**common, index=index, text=text)
    if op == "insert":
        return chain_step_insert(**common, index=index, text=text)
    if op == "delete":
        return chain_step_delete(**common, index=index)
    if op == "resegment":
        return chain_resegment(**common, mode=mode)
    raise ValidationFailed(f"'{op}' is not an edit; use one of {', '.join(EDIT_OPS)}.", field="op")
