"""How a chain's steps are stored: packed key lists and compressed text blocks. Pure: no Django.

A revision (annotation.models.ChainRevision) holds the order of its steps as a list of keys and the
texts of the steps it introduced. Both are packed here:

- texts: the JSON array of the texts (orjson, UTF-8), compressed with zstd at level 1 behind a
  one-byte tag. The import's budget is set by the bytes PostgreSQL must write: 415 MB of steps
  stored as text cost 5.4 s (uncompressed, TOAST) to 11 s (pglz) of server time on this machine,
  against 1.3 s for the 133 MB zstd gives (docs/architecture.md). The JSON inside is exactly what an
  export writes for a chain's steps, so an unedited chain's steps go out without re-encoding.
- keys: little-endian uint32s. NULL in the database means 0..n-1 (every imported revision).

Blocks are immutable: an edit writes a new, small block with only its new texts.
"""

import bisect
import sys
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import orjson
import zstandard

_ZSTD = b"z"  # zstd(JSON array)
_PLAIN = b"j"  # the JSON array as it is (small blocks, where compression does not pay)
_KEYS = b"k"  # uint32 little-endian
_COMPRESS_ABOVE = 256  # bytes of JSON
_LEVEL = 1

_compressor = zstandard.ZstdCompressor(level=_LEVEL)
_decompressor = zstandard.ZstdDecompressor()


class CorruptBlock(ValueError):
    """A stored block that cannot be read: never expected; names what was found."""


def pack_json(texts_json: bytes) -> bytes:
    """A block from the JSON array of a list of texts (as `orjson.dumps(texts)` gives it)."""
    if len(texts_json) <= _COMPRESS_ABOVE:
        return _PLAIN + texts_json
    return _ZSTD + _compressor.compress(texts_json)


def pack_many(texts_jsons: Sequence[bytes]) -> list[bytes]:
    """pack_json for many blocks at once, compressing on C threads (the GIL is released meanwhile)."""
    big = [i for i, data in enumerate(texts_jsons) if len(data) > _COMPRESS_ABOVE]
    out = [_PLAIN + data for data in texts_jsons]
    if len(big) > 8:
        packed = _compressor.multi_compress_to_buffer([texts_jsons[i] for i in big], threads=-1)
        for slot, i in enumerate(big):
            out[i] = _ZSTD + packed[slot].tobytes()
    else:
        for i in big:
            out[i] = _ZSTD + _compressor.compress(texts_jsons[i])
    return out


def pack_texts(texts: Sequence[str]) -> bytes:
    return pack_json(orjson.dumps(list(texts)))


def unpack_json(block: bytes | memoryview) -> bytes:
    """The JSON array of a block's texts."""
    data = bytes(block)
    tag, body = data[:1], data[1:]
    if tag == _ZSTD:
        # max_output_size: the frame header of compress() carries the size; this guards older blocks.
        return _decompressor.decompress(body, max_output_size=1 << 31)
    if tag == _PLAIN:
        return body
    raise CorruptBlock(f"step block starts with {tag!r}; expected {_ZSTD!r} or {_PLAIN!r}")


def unpack_texts(block: bytes | memoryview) -> list[str]:
    texts = orjson.loads(unpack_json(block))
    if not isinstance(texts, list):
        raise CorruptBlock(f"step block holds {type(texts).__name__}; expected a list of texts")
    return texts


def pack_keys(keys: Iterable[int]) -> bytes:
    packed = array("I", keys)
    if packed.itemsize != 4:  # pragma: no cover - every platform Django runs on has 4-byte unsigned int
        raise RuntimeError("array('I') is not 4 bytes wide here")
    if sys.byteorder == "big":  # pragma: no cover
        packed.byteswap()
    return _KEYS + packed.tobytes()


def unpack_keys(data: bytes | memoryview | None, count: int) -> list[int]:
    """The step keys of a revision; `data` NULL (None) means 0..count-1."""
    if data is None:
        return list(range(count))
    raw = bytes(data)
    if raw[:1] != _KEYS:
        raise CorruptBlock(f"step key list starts with {raw[:1]!r}; expected {_KEYS!r}")
    keys = array("I")
    keys.frombytes(raw[1:])
    if sys.byteorder == "big":  # pragma: no cover
        keys.byteswap()
    if len(keys) != count:
        raise CorruptBlock(f"step key list holds {len(keys)} keys; the revision says {count}")
    return keys.tolist()


@dataclass(frozen=True)
class StoredRevision:
    """What the reader needs of one ChainRevision row."""

    number: int
    step_keys: bytes | memoryview | None
    step_count: int
    first_new_key: int
    new_count: int
    texts: bytes | memoryview | None


@dataclass
class Steps:
    """The steps of one revision of a chain, in order."""

    revision: int
    keys: list[int]
    texts: list[str]

    def __len__(self) -> int:
        return len(self.keys)

    def index_of(self) -> dict[int, int]:
        """key -> 0-based position in this revision."""
        return {key: i for i, key in enumerate(self.keys)}


def assemble(revisions: Sequence[StoredRevision], number: int) -> Steps:
    """The steps of revision `number`, from the rows of that revision and those before it.

    Keys are handed out in rising order, revision after revision, so the revision that introduced a
    key is found by bisecting the first keys.
    """
    by_number = {rev.number: rev for rev in revisions}
    target = by_number.get(number)
    if target is None:
        raise CorruptBlock(f"revision {number} is missing (have {sorted(by_number)})")
    keys = unpack_keys(target.step_keys, target.step_count)
    introducing = sorted((rev for rev in revisions if rev.number <= number and rev.new_count),
                         key=lambda rev: rev.first_new_key)
    if target.step_keys is None and introducing and introducing[0].first_new_key == 0 \
            and introducing[0].new_count == target.step_count:
        # An imported revision: its own block is its steps, in order.
        texts = unpack_texts(introducing[0].texts or b"")
        _check_count(texts, introducing[0])
        return Steps(revision=number, keys=keys, texts=texts)
    return Steps(revision=number, keys=keys, texts=texts_of(introducing, keys))


def _check_count(texts: list[str], rev: StoredRevision) -> None:
    if len(texts) != rev.new_count:
        raise CorruptBlock(f"revision {rev.number}'s block holds {len(texts)} texts; it says {rev.new_count}")


@dataclass(frozen=True)
class Edit:
    """Replace the steps at positions [start, stop) of a revision with `texts` (0, 1 or more new steps)."""

    start: int
    stop: int
    texts: tuple[str, ...]


def apply_edit(keys: Sequence[int], edit: Edit, next_key: int) -> tuple[list[int], list[int]]:
    """(the new revision's keys, the new keys) for `edit`, new keys taken from `next_key` on.

    Every key outside [start, stop) is kept, so labels on unchanged steps follow them.
    """
    new_keys = list(range(next_key, next_key + len(edit.texts)))
    return [*keys[:edit.start], *new_keys, *keys[edit.stop:]], new_keys


def texts_of(revisions: Sequence[StoredRevision], keys: Sequence[int]) -> list[str]:
    """The texts of `keys`, decoding only the blocks that hold them."""
    introducing = sorted((rev for rev in revisions if rev.new_count), key=lambda rev: rev.first_new_key)
    firsts = [rev.first_new_key for rev in introducing]
    decoded: dict[int, list[str]] = {}
    out = []
    for key in keys:
        slot = bisect.bisect_right(firsts, key) - 1
        if slot < 0 or key >= firsts[slot] + introducing[slot].new_count:
            raise CorruptBlock(f"step key {key} is in no block")
        block = decoded.get(slot)
        if block is None:
            block = decoded[slot] = unpack_texts(introducing[slot].texts or b"")
            _check_count(block, introducing[slot])
        out.append(block[key - firsts[slot]])
    return out
