"""Read a JSON array or JSON Lines file into (line, object) pairs, and check fields with clear errors.

Pure: no Django. Errors name the line, the field and how to fix it.
"""

import json
from collections.abc import Iterator
from typing import Any

from .records import MAX_ERRORS, FileRefused, RowError

_MISSING = object()


class RowErrors(Exception):
    """Raised inside a row parser to abandon the row; the errors are already recorded."""


class Row:
    """One object from the file, with typed accessors that record what is wrong and where."""

    def __init__(self, line: int, data: Any, errors: list[RowError]):
        self.line = line
        self.data = data
        self.errors = errors

    def fail(self, field: str, message: str) -> RowErrors:
        self.errors.append(RowError(self.line, field, message))
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
            raise self.fail(name, f"is {_json_type(value)} {_preview(value)}; expected {_kind_name(kind)}")
        return value

    def text(self, obj: dict, path: str, key: str, *, required: bool = True, nonempty: bool = True) -> str:
        value = self.get(obj, path, key, str, required=required, default="")
        if required and nonempty and not value.strip():
            raise self.fail(f"{path}.{key}" if path else key, "is empty")
        return value

    def string_list(self, obj: dict, path: str, key: str) -> list[str]:
        value = self.get(obj, path, key, list)
        if not value:
            raise self.fail(key, "is an empty list; a chain needs at least one step")
        for i, item in enumerate(value):
            if not isinstance(item, str):
                raise self.fail(f"{key}[{i}]", f"is {_json_type(item)} {_preview(item)}; expected a string")
            if not item.strip():
                raise self.fail(f"{key}[{i}]", "is an empty step")
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


def _preview(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return f"({text[:40]}…)" if len(text) > 40 else f"({text})"


def _line_of(data: bytes | str, offset: int) -> int:
    return data.count(b"\n" if isinstance(data, bytes) else "\n", 0, offset) + 1


def looks_like_array(data: bytes) -> bool:
    return data.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] == b"["


def iter_objects(data: bytes, errors: list[RowError]) -> Iterator[tuple[int, Any]]:
    """(line, value) for each item of a JSON array, or each non-blank line of JSON Lines.

    Undecodable lines are recorded in `errors` and skipped, so one pass reports every bad line.
    """
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    if looks_like_array(data):
        yield from _iter_array(data, errors)
    else:
        yield from _iter_lines(data, errors)


def _iter_lines(data: bytes, errors: list[RowError]) -> Iterator[tuple[int, Any]]:
    decoder = json.JSONDecoder()
    for number, raw in enumerate(data.split(b"\n"), start=1):
        if len(errors) >= MAX_ERRORS:
            return
        if not raw.strip():
            continue
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            errors.append(RowError(number, "", f"is not valid UTF-8 (byte {exc.start + 1} of the line); save the file as UTF-8"))
            continue
        try:
            value, end = decoder.raw_decode(text.strip())
            if end != len(text.strip()):
                raise json.JSONDecodeError("extra data after the object (two objects on one line?)", text.strip(), end)
        except json.JSONDecodeError as exc:
            hint = "; the line looks cut off" if exc.msg.startswith(("Unterminated", "Expecting")) else ""
            errors.append(RowError(number, "", f"is not valid JSON: {exc.msg} (column {exc.colno}){hint}"))
            continue
        yield number, value


def _iter_array(data: bytes, errors: list[RowError]) -> Iterator[tuple[int, Any]]:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        errors.append(RowError(_line_of(data, exc.start), "", "is not valid UTF-8; save the file as UTF-8"))
        return
    decoder = json.JSONDecoder()
    ws = " \t\r\n"
    pos = text.index("[") + 1
    n = len(text)
    # Line numbers counted on from the last one asked for: counting from the start of the file for
    # every item made a large file quadratic (50,000 items of a 400 MB file: hours).
    line, counted = 1, 0

    def line_at(offset: int) -> int:
        nonlocal line, counted
        line += text.count("\n", counted, offset)
        counted = offset
        return line

    def skip(p: int) -> int:
        while p < n and text[p] in ws:
            p += 1
        return p

    pos = skip(pos)
    if pos < n and text[pos] == "]":
        return
    while True:
        if len(errors) >= MAX_ERRORS:
            return
        try:
            value, end = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            errors.append(RowError(exc.lineno, "", f"is not valid JSON: {exc.msg} (column {exc.colno})"))
            return
        yield line_at(pos), value
        pos = skip(end)
        if pos >= n:
            errors.append(RowError(line_at(n), "", "the JSON array is not closed with ']'; the file looks cut off"))
            return
        if text[pos] == "]":
            if skip(pos + 1) < n:
                errors.append(RowError(line_at(pos), "", "extra text after the closing ']'"))
            return
        if text[pos] != ",":
            errors.append(RowError(line_at(pos), "", f"expected ',' or ']' between items, found {text[pos]!r}"))
            return
        pos = skip(pos + 1)


def refuse_if(errors: list[RowError], filename: str) -> None:
    if errors:
        raise FileRefused(errors[:MAX_ERRORS], filename)
