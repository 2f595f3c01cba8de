"""The chain list's "problem contains" search: a trigram index on problems (PostgreSQL only) and an index
of chains by problem (everywhere), to go from the problems found to their chains.

`statement ILIKE '%…%'` (Django: `UPPER(statement) LIKE UPPER('%…%')`) reads every problem without an
index; a GIN trigram index on the same expression answers it from the trigrams of the searched text (3
characters or more, which the list requires). pg_trgm ships with PostgreSQL and is a trusted extension
(PostgreSQL 13+): the database's owner may create it. SQLite (the embedded default) searches by a scan.

Not atomic: the index is built CONCURRENTLY, so a deployment's imports and edits keep writing problems
while it builds.
"""

from django.db import migrations, models

INDEX = "problem_statement_trgm_idx"


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    schema_editor.execute(f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {INDEX} ON annotation_problem "
                          "USING gin (UPPER(statement) gin_trgm_ops)")


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {INDEX}")  # the extension may serve others


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("annotation", "0007_merge_claim_indexes_hardening")]

    operations = [
        migrations.RunPython(forwards, backwards, elidable=False),
        migrations.AddIndex(model_name="chain", index=models.Index(fields=["problem"], name="chain_problem_idx")),
    ]
