"""The audit log: one append-only row per consequential action (annotation.models.AuditEvent).

Call `audit_record` inside the transaction of the action it records, so the row commits with the
action or not at all. Details are small JSON (ids, counts, the role given), never file contents.
"""

from ..models import AuditEvent

MAX_DETAIL_CHARS = 4000


def audit_record(*, action: str, actor=None, project=None, obj=None, detail: dict | None = None) -> AuditEvent:
    """Record `action` ("<entity>.<verb>") by `actor` (a user or None for the system) on `obj` in `project`."""
    import orjson

    detail = detail or {}
    if len(orjson.dumps(detail, default=str)) > MAX_DETAIL_CHARS:
        detail = {"truncated": True, "keys": sorted(detail)[:50]}
    actor = actor if actor is not None and getattr(actor, "is_authenticated", False) else None
    return AuditEvent.objects.create(
        action=action[:64], actor_id=actor.pk if actor else None, actor_name=actor.get_username() if actor else "",
        project_id=project.pk if project is not None else None, project_slug=project.slug if project is not None else "",
        object_type=type(obj).__name__ if obj is not None else "", object_id=str(obj.pk) if obj is not None else "",
        detail=orjson.loads(orjson.dumps(detail, default=str)))
