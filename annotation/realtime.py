"""Channels group names and broadcasts. Call broadcasts after commit (transaction.on_commit)."""

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor

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
    message = {"type": "project.event", "event": event, "payload": payload}
    try:
        _group_send(layer, project_group(project_id), message)
    except Exception:  # a page not told of progress must never undo the write that already committed
        log.exception("broadcast of %s to project %s failed", event, project_id)


def _group_send(layer, group: str, message: dict) -> None:
    """Send from sync code, also when this thread already runs an event loop (a sync service called under an
    async caller, e.g. Playwright's sync API), where async_to_sync refuses: then send from a fresh thread."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        async_to_sync(layer.group_send)(group, message)
        return
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(async_to_sync(layer.group_send), group, message).result(timeout=10)
