from django.contrib import admin

from .models import Assignment, Chain, ImportJob, Membership, Problem, Project


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
    list_display = ["source_id", "project", "source_model", "step_count"]
    list_filter = ["project"]
    search_fields = ["source_id"]


@admin.register(Assignment)
class AssignmentAdmin(admin.ModelAdmin):
    list_display = ["id", "chain", "annotator", "external_source", "status", "submitted_at"]
    list_filter = ["status"]


@admin.register(ImportJob)
class ImportJobAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "filename", "status", "created_at"]
