"""Steps move from a row each (Step, version 1 forever) to revisions (ChainRevision: packed keys and
compressed texts); labels point at step keys; labels that came with imported data move from
external assignments to ImportedLabelSet; label saves become sparse (new fields on StepLabel).

The data of an existing database is carried over: every chain gets revision 1 from its steps (key
= index), labels keep their step by key, external assignments become imported label sets, and
content hashes are recomputed with the new definition (compact JSON).
"""

import hashlib

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models
from django.db.models import F, Q


def _content_hash(problem: str, steps: list[str], answer: str) -> str:
    import orjson

    return hashlib.sha256(orjson.dumps([problem, steps, answer])).hexdigest()


def forward(apps, schema_editor):
    import orjson

    from annotation import steps as step_store

    Chain = apps.get_model("annotation", "Chain")
    Step = apps.get_model("annotation", "Step")
    ChainRevision = apps.get_model("annotation", "ChainRevision")
    StepLabel = apps.get_model("annotation", "StepLabel")
    Assignment = apps.get_model("annotation", "Assignment")
    Annotation = apps.get_model("annotation", "Annotation")
    Candidate = apps.get_model("annotation", "Candidate")
    ImportedLabelSet = apps.get_model("annotation", "ImportedLabelSet")

    for chain in Chain.objects.select_related("problem").iterator(chunk_size=500):
        rows = list(Step.objects.filter(chain_id=chain.pk, version=1).order_by("index")
                    .values_list("text", "char_start", "char_end"))
        texts = [text for text, _, _ in rows]
        spans = [[s, e] for _, s, e in rows] if rows and all(s is not None for _, s, _ in rows) else None
        ChainRevision.objects.create(chain_id=chain.pk, number=1, kind="import", step_keys=None,
                                     step_count=len(texts), first_new_key=0, new_count=len(texts),
                                     texts=step_store.pack_texts(texts),
                                     spans=orjson.dumps(spans).decode() if spans else "", detail={})
        Chain.objects.filter(pk=chain.pk).update(
            revision=1, step_count=len(texts), next_step_key=len(texts),
            content_hash=_content_hash(chain.problem.statement, texts, chain.final_answer))
    StepLabel.objects.update(step_key=models.Subquery(Step.objects.filter(pk=models.OuterRef("step_id"))
                                                      .values("index")[:1]))
    Annotation.objects.update(first_error_key=F("first_error_step"))
    Candidate.objects.update(step_key=F("step_index"))

    for assignment in Assignment.objects.exclude(external_source="").iterator(chunk_size=500):
        size = Chain.objects.get(pk=assignment.chain_id).step_count
        ratings, flagged = [None] * size, [None] * size
        for key, rating, flag in StepLabel.objects.filter(assignment_id=assignment.pk).values_list(
                "step_key", "rating", "flagged"):
            if key < size:
                ratings[key], flagged[key] = rating, flag
        annotation = Annotation.objects.filter(assignment_id=assignment.pk).first()
        candidates = [[c.step_key, c.position, c.source, c.text, c.rating, c.flagged, c.chosen]
                      for c in Candidate.objects.filter(assignment_id=assignment.pk).order_by("id")]
        reason = annotation.finish_reason if annotation else "give_up"
        first_error = annotation.first_error_step if annotation else None
        payload = orjson.dumps([ratings, flagged, reason, first_error, [], candidates])
        ImportedLabelSet.objects.create(
            chain_id=assignment.chain_id, source=assignment.external_source, revision=1,
            ratings=orjson.dumps(ratings).decode(),
            flagged="" if all(f is None for f in flagged) else orjson.dumps(flagged).decode(),
            finish_reason=reason, first_error_index=first_error,
            candidates=orjson.dumps(candidates).decode() if candidates else "",
            source_meta=orjson.dumps(annotation.source_meta).decode() if annotation and annotation.source_meta else "",
            labels_hash=hashlib.sha256(payload).hexdigest())
        assignment.delete()


class Migration(migrations.Migration):

    dependencies = [
        ("annotation", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        # --- new tables and fields ---
        migrations.AddField("project", "label_schema", models.JSONField(blank=True, default=dict)),
        migrations.AddField("chain", "revision", models.PositiveIntegerField(default=1)),
        migrations.AddField("chain", "next_step_key", models.PositiveIntegerField(default=0)),
        migrations.CreateModel(
            name="ChainRevision",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("number", models.PositiveIntegerField()),
                ("kind", models.CharField(choices=[("import", "Imported"), ("split", "Step split"),
                                                   ("merge", "Steps merged"), ("reword", "Step reworded"),
                                                   ("insert", "Step inserted"), ("delete", "Step deleted"),
                                                   ("resegment", "Re-segmented")], default="import", max_length=16)),
                ("step_keys", models.BinaryField(blank=True, null=True)),
                ("step_count", models.PositiveIntegerField()),
                ("first_new_key", models.PositiveIntegerField(default=0)),
                ("new_count", models.PositiveIntegerField(default=0)),
                ("texts", models.BinaryField(blank=True, null=True)),
                ("spans", models.TextField(blank=True, help_text="JSON [[start, end], ...] in raw_text, or empty.")),
                ("detail", models.JSONField(blank=True, default=dict, help_text="What the edit did, for the history.")),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("chain", models.ForeignKey(db_constraint=False, db_index=False,
                                            on_delete=django.db.models.deletion.CASCADE, related_name="revisions",
                                            to="annotation.chain")),
                ("created_by", models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL,
                                                 related_name="+", to=settings.AUTH_USER_MODEL)),
            ],
            options={"constraints": [
                models.UniqueConstraint(fields=("chain", "number"), name="revision_unique_number"),
                models.CheckConstraint(condition=Q(number__gte=1), name="revision_number_positive"),
            ]},
        ),
        migrations.AddField("importjob", "size", models.PositiveBigIntegerField(default=0)),
        migrations.AddField("importjob", "update_labels", models.BooleanField(default=False)),
        migrations.AddField("importjob", "progress", models.JSONField(blank=True, default=dict)),
        migrations.AddField("importjob", "attempts", models.PositiveSmallIntegerField(default=0)),
        migrations.AddField("importjob", "heartbeat_at", models.DateTimeField(blank=True, null=True)),
        migrations.AddField("importjob", "started_at", models.DateTimeField(blank=True, null=True)),
        migrations.AddField("importjob", "file_deleted_at", models.DateTimeField(blank=True, null=True)),
        migrations.AlterField("importjob", "file", models.FileField(blank=True, upload_to="imports/%Y/%m/")),
        migrations.AlterField("importjob", "created_by", models.ForeignKey(
            blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, to=settings.AUTH_USER_MODEL)),
        migrations.AddIndex("importjob", models.Index(fields=["status", "heartbeat_at"], name="importjob_status_idx")),
        migrations.CreateModel(
            name="ImportedLabelSet",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("source", models.CharField(help_text='"processbench", "prm800k:<labeler id>", ...', max_length=120)),
                ("revision", models.PositiveIntegerField(default=1)),
                ("ratings", models.TextField()),
                ("flagged", models.TextField(blank=True)),
                ("human_steps", models.TextField(blank=True)),
                ("finish_reason", models.CharField(choices=[("solution", "Reached a correct solution"),
                                                            ("found_error", "Found an error"),
                                                            ("bad_problem", "Problem is bad"),
                                                            ("give_up", "Gave up")], max_length=16)),
                ("first_error_index", models.PositiveIntegerField(blank=True, null=True)),
                ("candidates", models.TextField(blank=True)),
                ("source_meta", models.TextField(blank=True)),
                ("labels_hash", models.CharField(max_length=64)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("replaced_at", models.DateTimeField(blank=True, null=True)),
                ("chain", models.ForeignKey(db_constraint=False, on_delete=django.db.models.deletion.CASCADE,
                                            related_name="imported_labels", to="annotation.chain")),
                ("import_job", models.ForeignKey(blank=True, db_constraint=False, db_index=False, null=True,
                                                 on_delete=django.db.models.deletion.SET_NULL,
                                                 related_name="label_sets", to="annotation.importjob")),
            ],
            options={"constraints": [models.UniqueConstraint(condition=Q(replaced_at__isnull=True),
                                                             fields=("chain", "source"),
                                                             name="imported_labels_one_current_per_source")]},
        ),
        migrations.AddField("assignment", "revision", models.PositiveIntegerField(default=1)),
        migrations.AddField("assignment", "last_save_key", models.CharField(blank=True, max_length=64)),
        migrations.AddField("assignment", "skip_reason", models.TextField(blank=True)),
        migrations.AddField("steplabel", "step_key", models.PositiveIntegerField(null=True)),
        migrations.AddField("steplabel", "unsure", models.BooleanField(default=False)),
        migrations.AddField("steplabel", "error_type", models.CharField(blank=True, help_text="From the project's rubric.",
                                                                        max_length=64)),
        migrations.AddField("annotation", "first_error_key", models.PositiveIntegerField(
            blank=True, help_text="Step key of the first wrong step.", null=True)),
        migrations.AddField("candidate", "step_key", models.PositiveIntegerField(null=True)),
        migrations.AddField("candidate", "source_model", models.CharField(blank=True, max_length=200)),
        # --- the data ---
        migrations.RunPython(forward, migrations.RunPython.noop, elidable=False),
        # --- what the old layout had and the new one does not ---
        migrations.RemoveConstraint("assignment", "assignment_annotator_xor_external"),
        migrations.RemoveConstraint("assignment", "assignment_once_per_external_source"),
        migrations.RemoveConstraint("assignment", "assignment_once_per_annotator"),
        migrations.RemoveConstraint("steplabel", "steplabel_once_per_step"),
        migrations.RemoveConstraint("steplabel", "steplabel_rating_range"),
        migrations.RemoveConstraint("candidate", "candidate_unique_position"),
        migrations.RemoveConstraint("candidate", "candidate_rating_range"),
        migrations.RemoveConstraint("annotation", "annotation_found_error_has_step"),
        migrations.RemoveField("steplabel", "step"),
        migrations.DeleteModel("Step"),
        migrations.RemoveField("assignment", "external_source"),
        migrations.RemoveField("annotation", "first_error_step"),
        migrations.RemoveField("annotation", "source_meta"),
        migrations.RemoveField("candidate", "step_index"),
        migrations.AlterField("steplabel", "step_key", models.PositiveIntegerField()),
        migrations.AlterField("candidate", "step_key", models.PositiveIntegerField(
            help_text="The step this is an alternative to.")),
        migrations.AlterField("assignment", "annotator", models.ForeignKey(
            on_delete=django.db.models.deletion.PROTECT, related_name="assignments", to=settings.AUTH_USER_MODEL)),
        migrations.AlterField("chain", "project", models.ForeignKey(
            db_constraint=False, on_delete=django.db.models.deletion.CASCADE, related_name="chains",
            to="annotation.project")),
        migrations.AlterField("chain", "problem", models.ForeignKey(
            db_constraint=False, db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name="chains",
            to="annotation.problem")),
        migrations.AlterField("chain", "content_hash", models.CharField(max_length=64)),
        migrations.AlterField("problem", "project", models.ForeignKey(
            db_constraint=False, db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name="problems",
            to="annotation.project")),
        migrations.AddConstraint("assignment", models.UniqueConstraint(fields=("chain", "annotator"),
                                                                       name="assignment_once_per_annotator")),
        migrations.AddConstraint("assignment", models.CheckConstraint(condition=Q(active_seconds__lte=2592000),
                                                                      name="assignment_active_seconds_bounded")),
        migrations.AddConstraint("steplabel", models.UniqueConstraint(fields=("assignment", "step_key"),
                                                                      name="steplabel_once_per_step")),
        migrations.AddConstraint("steplabel", models.CheckConstraint(
            condition=Q(rating__isnull=True) | Q(rating__gte=-100, rating__lte=100), name="steplabel_rating_range")),
        migrations.AddConstraint("candidate", models.UniqueConstraint(
            fields=("assignment", "step_key", "source", "position"), name="candidate_unique_position")),
        migrations.AddConstraint("candidate", models.CheckConstraint(
            condition=Q(rating__isnull=True) | Q(rating__gte=-100, rating__lte=100), name="candidate_rating_range")),
        migrations.AddConstraint("annotation", models.CheckConstraint(
            condition=~Q(finish_reason="found_error") | Q(first_error_key__isnull=False),
            name="annotation_found_error_has_step")),
        migrations.AddConstraint("chain", models.CheckConstraint(condition=Q(next_step_key__gte=F("step_count")),
                                                                 name="chain_keys_cover_steps")),
    ]
