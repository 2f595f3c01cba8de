"""Read an import file as a stream of JSON values, in flat memory, and check fields with clear errors.

Pure: no Django. Three layouts, told apart by the first bytes:

- JSON Lines: one value per line (orjson per line; a bad line is reported and reading goes on);
- a JSON array (ProcessBench): read in windows of a few MB; each window is cut after the last item
  that ends in it and parsed as one array by orjson (ten times the speed of walking it item by
  item). A wrong cut (inside a string, or between nested objects) cannot parse, so a window that
  parses was cut between items; when no cut works the rest of the file goes to the safe reader;
- JSON values one after another, pretty-printed or not (PRM800K's example files): the safe reader.

The safe reader is the standard library's scanner over a rolling window: it knows the line of every
value, and it stops at a nesting depth Python can handle (RecursionError), which is why it, not a
streaming parser that builds a path string per level, reads what orjson did not. orjson itself
refuses nesting deeper than 1,024.

Values from a fast-read array carry no line number; when a row is refused, `locate` reads the file
again with the safe reader to name the line of each refused item.
"""

import codecs
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

import orjson

from .records import FileRefused, Limits, RowError

_MISSING = object()
_ONLY_STR = {str}
_WINDOW = 4 << 20  # bytes read at a time
_SAFE_CHUNK = 1 << 20
# An object ending, a comma, and the next object's first key. Inside a JSON string the quote after the
# brace would be escaped (\"), so a cut found here is almost always between items; one between nested
# objects cannot parse and is passed over.
_ITEM_END = re.compile(rb"\}\s*,\s*(?=\{\s*\")")
_WS = b" \t\r\n"


class RowErrors(Exception):
    """Raised inside a row parser to abandon the row; the errors are already recorded."""


@dataclass(frozen=True)
class Value:
    """One top-level value of the file: its position (1-based item number; line when known)."""

    item: int
    line: int  # 0 when not known yet (fast array path): see `locate`
    data: Any


class Row:
    """One object from the file, with typed accessors that record what is wrong and where."""

    def __init__(self, line: int, data: Any, errors: list[RowError], item: int = 0):
        self.line = line
        self.item = item
        self.data = data
        self.errors = errors

    def error(self, field: str, message: str) -> None:
        self.errors.append(RowError(self.line, field, message, item=self.item))

    def fail(self, field: str, message: str) -> RowErrors:
        self.error(field, message)
        return RowErrors()

    def get(self, obj: dict, path: str, key: str, kind: type | tuple[type, ...], *, required: bool = True,
            nullable: bool = False, default: Any = None) -> Any:
        name = f"{path}.{key}" if path else key
        value = obj.get(key, _MISSING) if isinstance(obj, dict) else _MISSING
        if value is _MISSING:
            if required:
                raise self.fail(name, "is missing")
            return default
        if value is None:
            if nullable or not required:
                return None if nullable else default
            raise self.fail(name, f"is null; expected {_kind_name(kind)}")
        # bool is an int in Python; a rating of `true` is still wrong.
        if isinstance(value, bool) and bool not in _as_tuple(kind):
            raise self.fail(name, f"is {json.dumps(value)}; expected {_kind_name(kind)}")
        if not isinstance(value, kind):
            raise self.fail(name, f"is {_json_type(value)} {preview(value)}; expected {_kind_name(kind)}")
        return value

    def text(self, obj: dict, path: str, key: str, *, required: bool = True, nonempty: bool = True,
             limit: int = 1_000_000) -> str:
        name = f"{path}.{key}" if path else key
        value = self.get(obj, path, key, str, required=required, default="")
        if required and nonempty and not value.strip():
            raise self.fail(name, "is empty")
        if len(value) > limit:
            raise self.fail(name, f"is {len(value):,} characters long; at most {limit:,} are allowed")
        if "\x00" in value:
            raise self.fail(name, f"contains a NUL character (\\u0000) at position {value.index(chr(0)) + 1}, which "
                                  "cannot be stored; remove it")
        return value

    def string_list(self, obj: dict, path: str, key: str, limits: Limits) -> list[str]:
        name = f"{path}.{key}" if path else key
        value = self.get(obj, path, key, list)
        if not value:
            raise self.fail(name, "is an empty list; a chain needs at least one step")
        if len(value) > limits.max_steps:
            raise self.fail(name, f"has {len(value):,} steps; at most {limits.max_steps:,} per chain "
                                  "(STEPWISE_IMPORT_MAX_STEPS): split the chain or raise the limit")
        # The usual case checked at C speed: all strings, none blank, none too long.
        if (set(map(type, value)) == _ONLY_STR and min(map(len, map(str.strip, value)))
                and max(map(len, value)) <= limits.max_step_chars):
            return value
        for i, item in enumerate(value):
            if not isinstance(item, str):
                raise self.fail(f"{name}[{i}]", f"is {_json_type(item)} {preview(item)}; expected a string")
            if not item.strip():
                raise self.fail(f"{name}[{i}]", "is an empty step")
            if len(item) > limits.max_step_chars:
                raise self.fail(f"{name}[{i}]", f"is {len(item):,} characters long; at most {limits.max_step_chars:,} "
                                                "per step (STEPWISE_IMPORT_MAX_STEP_CHARS)")
        return value


def _as_tuple(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


_NAMES = {str: "a string", int: "a whole number", list: "a list", dict: "an object", bool: "true or false",
          float: "a number"}


def _kind_name(kind: type | tuple[type, ...]) -> str:
    return " or ".join(_NAMES.get(k, k.__name__) for k in _as_tuple(kind))


def _json_type(value: Any) -> str:
    return {bool: "a boolean", int: "a number", float: "a number", str: "a string", list: "a list",
            dict: "an object"}.get(type(value), type(value).__name__)


def preview(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return f"({text[:40]}…)" if len(text) > 40 else f"({text})"


def depth(value: Any, limit: int) -> int:
    """Nesting depth of a JSON value, counted up to limit + 1 (a scalar is 0)."""
    if not isinstance(value, dict | list):
        return 0
    deepest, level, frontier = 0, 0, [value]
    while frontier:
        level += 1
        deepest = level
        if level > limit:
            return level
        nxt = []
        for node in frontier:
            children = node.values() if isinstance(node, dict) else node
            nxt.extend(child for child in children if isinstance(child, dict | list))
        frontier = nxt
    return deepest


# --- the layout and the first value -------------------------------------------------------------------

def _skip_bom(stream: IO[bytes]) -> None:
    start = stream.read(3)
    if start != b"\xef\xbb\xbf":
        stream.seek(-len(start), 1)


def sniff(stream: IO[bytes]) -> str:
    """'array', 'lines' or 'values' from the file's first bytes ('' for an empty file); rewinds."""
    stream.seek(0)
    _skip_bom(stream)
    head = stream.read(1 << 16)
    stream.seek(0)
    stripped = head.lstrip(_WS)
    if not stripped:
        return ""
    if stripped[:1] == b"[":
        return "array"
    first_line = stripped.split(b"\n", 1)[0]
    try:
        orjson.loads(first_line)
    except orjson.JSONDecodeError:
        # Not a whole value on the first line: pretty-printed values one after another, or a
        # JSON Lines file whose first line is broken; the second value's line tells which.
        return "values" if first_line.strip() in (b"{", b"[") else "lines"
    return "lines"


def iter_values(stream: IO[bytes], errors: list[RowError], limits: Limits) -> Iterator[Value]:
    """Every top-level value of the file (items of a top-level array), bad ones recorded in `errors`."""
    layout = sniff(stream)
    if layout == "lines":
        yield from _iter_lines(stream, errors, limits)
    elif layout == "array":
        yield from _iter_array(stream, errors, limits)
    elif layout == "values":
        _skip_bom(stream)
        yield from _SafeReader(stream, errors, limits, array=False).values()


# --- JSON Lines ---------------------------------------------------------------------------------------

def _line_error(number: int, raw: bytes) -> RowError:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return RowError(number, "", f"is not valid UTF-8 (byte {exc.start + 1} of the line); save the file as UTF-8")
    try:
        json.loads(text)
    except RecursionError:
        return RowError(number, "", "is nested too deeply to read; flatten the row")
    except json.JSONDecodeError as exc:
        hint = "; the line looks cut off" if exc.msg.startswith(("Unterminated", "Expecting")) else ""
        return RowError(number, "", f"is not valid JSON: {exc.msg} (column {exc.colno}){hint}")
    return RowError(number, "", "is nested deeper than 1,024 levels; flatten the row")


def _iter_lines(stream: IO[bytes], errors: list[RowError], limits: Limits) -> Iterator[Value]:
    _skip_bom(stream)
    item = number = 0
    loads = orjson.loads
    readline = stream.readline
    cap = limits.max_row_bytes
    while len(errors) < limits.max_errors:
        raw = readline(cap + 1)
        if not raw:
            return
        number += 1
        if len(raw) > cap and not raw.endswith(b"\n"):
            item += 1
            errors.append(RowError(number, "", f"is longer than {cap:,} bytes (STEPWISE_IMPORT_MAX_ROW_BYTES); "
                                               "a row this large is not a chain"))
            while raw and not raw.endswith(b"\n"):  # skip the rest of the line
                raw = readline(1 << 20)
            continue
        try:
            value = loads(raw)
        except orjson.JSONDecodeError:
            if not raw.strip():
                continue
            item += 1
            errors.append(_line_error(number, raw))
            continue
        item += 1
        yield Value(item, number, value)


# --- JSON array ---------------------------------------------------------------------------------------

def _iter_array(stream: IO[bytes], errors: list[RowError], limits: Limits) -> Iterator[Value]:
    _skip_bom(stream)
    head = stream.read(_WINDOW)
    start = head.index(b"[") + 1
    buffer = head[start:]
    offset = start  # file offset of buffer[0] (after the BOM)
    item = 0
    while True:
        chunk = stream.read(_WINDOW)
        if not chunk:
            break
        buffer += chunk
        cut = _cut(buffer)
        if cut is None:
            if len(buffer) > 8 * _WINDOW:
                break  # no cut worked for 32 MB: let the safe reader walk it
            continue
        end, nxt, items = cut
        for value in items:
            item += 1
            yield Value(item, 0, value)
        buffer = buffer[nxt:]
        offset += nxt
    # The end of the array: parse what is left as the last items, or hand over to the safe reader.
    tail = buffer.rstrip(_WS)
    if tail.endswith(b"]"):
        try:
            items = orjson.loads(b"[" + tail)
        except orjson.JSONDecodeError:
            items = None
        if isinstance(items, list):
            for value in items:
                item += 1
                yield Value(item, 0, value)
            return
    stream.seek(offset + (3 if _has_bom(stream) else 0))
    yield from _SafeReader(stream, errors, limits, array=True, first_item=item + 1, in_array=True,
                           start_offset=offset).values()


def _has_bom(stream: IO[bytes]) -> bool:
    here = stream.tell()
    stream.seek(0)
    bom = stream.read(3) == b"\xef\xbb\xbf"
    stream.seek(here)
    return bom


def _cut(buffer: bytes) -> tuple[int, int, list] | None:
    """(end of the last whole item, start of the next, the items before it) or None.

    Tries the last few places where an object ends and a comma follows; a place inside a string or
    between nested objects makes the window unparseable, so the first that parses is a real cut.
    """
    tries = 0
    pos = len(buffer)
    while tries < 4:
        brace = buffer.rfind(b"}", 0, pos)
        if brace < 0:
            return None
        pos = brace
        match = _ITEM_END.match(buffer, brace)
        if match is None:
            continue
        tries += 1
        try:
            items = orjson.loads(b"[" + buffer[:brace + 1] + b"]")
        except orjson.JSONDecodeError:
            continue
        return brace + 1, match.end(), items
    return None


# --- the safe reader ------------------------------------------------------------------------------

class _SafeReader:
    """Values of the file with their line numbers, read with the standard library's scanner.

    `array`: the values are items of a top-level array (from `first_item` on, the '[' already read
    when `in_array`). Keeps a window of text; a value cut by the window's end is read again after
    the window grows.
    """

    def __init__(self, stream: IO[bytes], errors: list[RowError], limits: Limits, *, array: bool,
                 first_item: int = 1, in_array: bool = False, start_offset: int = 0):
        self.stream = stream
        self.errors = errors
        self.limits = limits
        self.array = array
        self.item = first_item - 1
        self.in_array = in_array
        self.decoder = codecs.getincrementaldecoder("utf-8")()
        self.text = ""
        self.pos = 0
        self.line = 1 + (self._lines_before(start_offset) if start_offset else 0)
        self.counted = 0  # text[:counted] has its newlines counted into self.line
        self.eof = False
        self.bytes_read = 0

    def _lines_before(self, offset: int) -> int:
        here = self.stream.tell()
        self.stream.seek(0)
        lines, left = 0, offset
        while left > 0:
            chunk = self.stream.read(min(left, _SAFE_CHUNK))
            if not chunk:
                break
            lines += chunk.count(b"\n")
            left -= len(chunk)
        self.stream.seek(here)
        return lines

    def _more(self) -> bool:
        if self.eof:
            return False
        chunk = self.stream.read(_SAFE_CHUNK)
        self.bytes_read += len(chunk)
        try:
            decoded = self.decoder.decode(chunk, final=not chunk)
        except UnicodeDecodeError as exc:
            self._line_at(len(self.text))
            # The line of the bad byte: the lines of the undecoded chunk up to it.
            line = self.line + chunk[:max(exc.start, 0)].count(b"\n")
            self.errors.append(RowError(line, "", "is not valid UTF-8; save the file as UTF-8"))
            self.eof = True
            return False
        if not chunk:
            self.eof = True
        # Drop what was read; keep the window small.
        self._line_at(self.pos)
        self.text = self.text[self.pos:] + decoded
        self.counted -= self.pos
        self.pos = 0
        return bool(chunk)

    def _line_at(self, offset: int) -> int:
        if offset > self.counted:
            self.line += self.text.count("\n", self.counted, offset)
            self.counted = offset
        return self.line

    def _skip_ws(self) -> bool:
        """Skip whitespace; False at the end of the file."""
        while True:
            n = len(self.text)
            while self.pos < n and self.text[self.pos] in " \t\r\n":
                self.pos += 1
            if self.pos < n:
                return True
            if not self._more():
                return False

    def _fail(self, message: str, at: int | None = None) -> None:
        self.errors.append(RowError(self._line_at(self.pos if at is None else at), "", message))

    def values(self) -> Iterator[Value]:
        decode = json.JSONDecoder().raw_decode
        if self.array and not self.in_array:
            if not self._skip_ws() or self.text[self.pos] != "[":
                self._fail("expected the file to start with '['")
                return
            self.pos += 1
        first = True
        while len(self.errors) < self.limits.max_errors:
            if not self._skip_ws():
                if self.array:
                    self._fail("the JSON array is not closed with ']'; the file looks cut off")
                return
            if self.array:
                ch = self.text[self.pos]
                if ch == "]":
                    self.pos += 1
                    if self._skip_ws():
                        self._fail("extra text after the closing ']'")
                    return
                if not first:
                    if ch != ",":
                        self._fail(f"expected ',' or ']' between items, found {ch!r}")
                        return
                    self.pos += 1
                    if not self._skip_ws():
                        self._fail("the JSON array is not closed with ']'; the file looks cut off")
                        return
            first = False
            while True:
                try:
                    value, end = decode(self.text, self.pos)
                except RecursionError:
                    self._fail("is nested too deeply to read; flatten the row")
                    return
                except json.JSONDecodeError as exc:
                    if len(self.text) - self.pos <= self.limits.max_row_bytes and self._more():
                        continue  # the value may go on in the next chunk
                    if not self.eof:
                        self._fail(f"is not valid JSON, or a row longer than {self.limits.max_row_bytes:,} bytes "
                                   f"(STEPWISE_IMPORT_MAX_ROW_BYTES): {exc.msg}")
                        return
                    line = self._line_at(max(exc.pos, self.pos))
                    hint = "; the file looks cut off" if exc.pos >= len(self.text.rstrip()) - 1 or \
                        exc.msg.startswith("Unterminated") else ""
                    self.errors.append(RowError(line, "", f"is not valid JSON: {exc.msg} (column {exc.colno}){hint}"))
                    return
                # A number at the window's end may go on ("12" of "123"): read more first.
                if end >= len(self.text) and not self.eof and not self.array and self._more():
                    continue
                break
            line = self._line_at(self.pos)
            self.item += 1
            self.pos = end
            yield Value(self.item, line, value)


def locate(stream: IO[bytes], items: set[int], limits: Limits) -> dict[int, int]:
    """{item number: line where it starts} for the given items, reading the file again safely."""
    layout = sniff(stream)
    _skip_bom(stream)
    found: dict[int, int] = {}
    if not items or layout == "lines":
        return found
    reader = _SafeReader(stream, [], Limits(max_errors=1), array=layout == "array")
    wanted = max(items)
    for value in reader.values():
        if value.item in items:
            found[value.item] = value.line
        if value.item >= wanted:
            break
    return found


def refuse_if(errors: list[RowError], filename: str) -> None:
    if errors:
        raise FileRefused(errors, filename)
