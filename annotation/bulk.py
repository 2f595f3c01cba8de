"""Fast inserts of many rows with ids known up front: COPY on PostgreSQL, executemany elsewhere.

An import writes a row per step (millions for a large file); building a model instance per row costs
more than the insert itself, so imports hand tuples here. Call inside the caller's transaction.
"""

from collections.abc import Iterable, Sequence
from typing import Any

from django.db import connection, models

COPY_NULL = "\\N"  # NULL in COPY's text format


def allocate_ids(model: type[models.Model], count: int) -> list[int]:
    """Reserve `count` primary keys for `model` inside the current transaction."""
    if count == 0:
        return []
    table = model._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # nextval is never rolled back and never handed out twice, so concurrent imports are safe.
            # The sequence is named once: pg_get_serial_sequence per row cost ten times nextval itself.
            cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [table])
            sequence = cursor.fetchone()[0]
            # One statement's values rise; when nobody else drew meanwhile they are a plain range, and
            # only its ends need to come back (two numbers instead of millions).
            cursor.execute(
                "SELECT min(v), max(v), CASE WHEN max(v) - min(v) + 1 <> count(*) THEN array_agg(v ORDER BY v) END "
                "FROM (SELECT nextval(%s::regclass) AS v FROM generate_series(1, %s)) drawn", [sequence, count]
            )
            low, high, scattered = cursor.fetchone()
            return list(scattered) if scattered is not None else list(range(low, high + 1))
        # SQLite: the settings open transactions IMMEDIATE, so we hold the write lock and max(id) is ours.
        cursor.execute(f'SELECT COALESCE(MAX(id), 0) FROM "{table}"')  # noqa: S608 (table name from the model)
        start = cursor.fetchone()[0] + 1
        return list(range(start, start + count))


def insert_rows(model: type[models.Model], fields: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    """Insert `rows` (tuples in `fields` order, model field names) and return how many were written.

    JSON fields must be passed already serialized (a str) and datetimes as aware datetimes.
    """
    opts = model._meta
    columns = [opts.get_field(name).column for name in fields]
    table = connection.ops.quote_name(opts.db_table)
    column_sql = ", ".join(connection.ops.quote_name(c) for c in columns)
    written = 0
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            raw = cursor.cursor  # psycopg 3 cursor under Django's wrapper
            with raw.copy(f"COPY {table} ({column_sql}) FROM STDIN") as copy:  # noqa: S608
                for row in rows:
                    copy.write_row(row)
                    written += 1
            return written
        placeholders = ", ".join(["%s"] * len(columns))
        sql = f"INSERT INTO {table} ({column_sql}) VALUES ({placeholders})"  # noqa: S608
        batch: list[Sequence[Any]] = []
        for row in rows:
            batch.append(row)
            if len(batch) >= 5000:
                cursor.executemany(sql, batch)
                written += len(batch)
                batch = []
        if batch:
            cursor.executemany(sql, batch)
            written += len(batch)
    return written


def copy_escape(texts: list[str]) -> list[str]:
    """`texts` escaped for COPY's text format (backslash, tab, newline, carriage return), all at once.

    One pass of each replace over a chain's joined steps instead of four calls per step. NUL cannot
    be stored in PostgreSQL text, so it joins them safely; a text holding one is passed on as it is,
    for PostgreSQL to refuse.
    """
    joined = "\0".join(texts)
    for char, escape in (("\\", "\\\\"), ("\t", "\\t"), ("\n", "\\n"), ("\r", "\\r")):
        if char in joined:
            joined = joined.replace(char, escape)
    escaped = joined.split("\0")
    if len(escaped) != len(texts):
        return [_copy_escape_one(text) for text in texts]
    return escaped


def _copy_escape_one(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def copy_lines(model: type[models.Model], fields: Sequence[str], chunks: Iterable[str]) -> int:
    """PostgreSQL only: insert rows given as COPY text-format lines (tab-separated, COPY_NULL for NULL,
    text through copy_escape), any number of lines per chunk; return how many were written.

    For the tables an import fills by the million: formatting a chain's rows with one f-string each
    costs a fraction of a `write_row` call per row.
    """
    opts = model._meta
    table = connection.ops.quote_name(opts.db_table)
    column_sql = ", ".join(connection.ops.quote_name(opts.get_field(name).column) for name in fields)
    with connection.cursor() as cursor:
        raw = cursor.cursor  # psycopg 3 cursor under Django's wrapper
        with raw.copy(f"COPY {table} ({column_sql}) FROM STDIN") as copy:  # noqa: S608
            for chunk in chunks:
                copy.write(chunk)
        return raw.rowcount


def copy_binary(model: type[models.Model], fields: Sequence[str], types: Sequence[str],
                rows: Iterable[Sequence[Any]]) -> int:
    """PostgreSQL only: insert `rows` with COPY in binary format (bytea without hex doubling).

    `types` are the PostgreSQL type names of `fields`, in order; jsonb values must be `copy_json(...)`.
    """
    opts = model._meta
    table = connection.ops.quote_name(opts.db_table)
    column_sql = ", ".join(connection.ops.quote_name(opts.get_field(name).column) for name in fields)
    written = 0
    with connection.cursor() as cursor:
        raw = cursor.cursor
        with raw.copy(f"COPY {table} ({column_sql}) FROM STDIN (FORMAT BINARY)") as copy:  # noqa: S608
            copy.set_types(list(types))
            write = copy.write_row
            for row in rows:
                write(row)
                written += 1
    return written


class _RawJson:
    """Already-encoded JSON, for psycopg's Jsonb dumper (which calls `dumps` on it) and for SQLite."""

    __slots__ = ("text",)

    def __init__(self, text: str):
        self.text = text


def _raw_dumps(value: _RawJson) -> str:
    return value.text


def copy_json(text: bytes | str):
    """A jsonb value for copy_binary from already-encoded JSON (PostgreSQL only)."""
    from psycopg.types.json import Jsonb

    return Jsonb(_RawJson(text if isinstance(text, str) else text.decode()), dumps=_raw_dumps)
