from django.contrib import admin

from .models import (
    Assignment,
    Chain,
    ChainRevision,
    ImportedLabelSet,
    ImportJob,
    Membership,
    Problem,
    Project,
)


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ["slug", "name", "overlap_k", "label_scale", "created_at"]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "project", "role"]
    list_filter = ["role", "project"]


@admin.register(Problem)
class ProblemAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "source"]
    list_filter = ["project"]


@admin.register(Chain)
class ChainAdmin(admin.ModelAdmin):
    list_display = ["source_id", "project", "source_model", "revision", "step_count"]
    list_filter = ["project"]
    search_fields = ["source_id"]
    # The step texts are packed in the revisions; the admin never loads them in a list.
    exclude = ["raw_text"]


@admin.register(ChainRevision)
class ChainRevisionAdmin(admin.ModelAdmin):
    list_display = ["chain", "number", "kind", "step_count", "new_count", "created_by", "created_at"]
    exclude = ["texts", "step_keys"]
    readonly_fields = ["chain", "number", "kind", "step_count", "first_new_key", "new_count", "detail",
                       "created_by", "created_at"]


@admin.register(ImportedLabelSet)
class ImportedLabelSetAdmin(admin.ModelAdmin):
    list_display = ["chain", "source", "finish_reason", "first_error_index", "created_at", "replaced_at"]
    list_filter = ["source"]
    exclude = ["candidates", "source_meta"]


@admin.register(Assignment)
class AssignmentAdmin(admin.ModelAdmin):
    list_display = ["id", "chain", "annotator", "revision", "status", "submitted_at"]
    list_filter = ["status"]


@admin.register(ImportJob)
class ImportJobAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "filename", "status", "attempts", "created_at", "finished_at"]
