from django.contrib import admin

from .models import (
    Assignment,
    AuditEvent,
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

    def save_model(self, request, obj, form, change):
        # Through the service, so a role given here is audited like any other.
        from .services import membership_set

        saved = membership_set(project=obj.project, user=obj.user, role=obj.role, by=request.user)
        obj.pk = saved.pk

    def delete_model(self, request, obj):
        from .services import audit_record

        audit_record(action="membership.removed", actor=request.user, project=obj.project, obj=obj,
                     detail={"user": obj.user.get_username(), "user_id": obj.user_id, "role": obj.role})
        super().delete_model(request, obj)


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


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """Read only: the audit log is append-only (and PostgreSQL refuses changes to it anyway)."""

    list_display = ["at", "actor_name", "action", "project_slug", "object_type", "object_id"]
    list_filter = ["action", "project_slug"]
    search_fields = ["actor_name", "object_id", "action"]
    date_hierarchy = "at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
