"""Admin: model backends are managed here (or through /api/oversight/backends/); runs and results are read-only."""

from django.contrib import admin

from .models import (
    AssignmentArm,
    Critique,
    DebateTurn,
    DebateVerdict,
    ModelBackend,
    OversightPolicy,
    OversightRun,
)


@admin.register(ModelBackend)
class ModelBackendAdmin(admin.ModelAdmin):
    list_display = ("name", "base_url", "model", "max_concurrency", "timeout_seconds", "structured_output",
                    "is_embedded")
    search_fields = ("name", "model")


@admin.register(OversightPolicy)
class OversightPolicyAdmin(admin.ModelAdmin):
    list_display = ("project", "passes", "backend", "assisted_share")


class ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(OversightRun)
class OversightRunAdmin(ReadOnly):
    list_display = ("id", "chain", "revision", "kind", "backend", "status", "done", "total", "malformed")
    list_filter = ("kind", "status")
    list_select_related = ("chain", "backend")


@admin.register(Critique)
class CritiqueAdmin(ReadOnly):
    list_display = ("run", "step_key", "verdict", "confidence", "quote_verified")
    list_filter = ("verdict",)


admin.site.register(DebateTurn, ReadOnly)
admin.site.register(DebateVerdict, ReadOnly)
admin.site.register(AssignmentArm, ReadOnly)
