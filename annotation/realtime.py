"""Channels group names and broadcasts. Call broadcasts after commit (transaction.on_commit)."""

import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

log = logging.getLogger(__name__)


def project_group(project_id: int) -> str:
    return f"project-{project_id}"


def broadcast_project_event(project_id: int, event: str, payload: dict) -> None:
    """Tell every open page of the project that something happened (import done, assignment submitted)."""
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(project_group(project_id), {"type": "project.event", "event": event,
                                                                     "payload": payload})
    except Exception:  # a page not told of progress must never undo the write that already committed
        log.exception("broadcast of %s to project %s failed", event, project_id)
