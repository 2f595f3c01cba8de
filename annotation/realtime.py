"""Channels group names and broadcasts. Call broadcasts after commit (transaction.on_commit)."""

import asyncio
import contextlib
import logging
from concurrent.futures import ThreadPoolExecutor

from asgiref.sync import async_to_sync
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from channels.layers import get_channel_layer
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

# What a channel layer raises when its server is gone: redis-py's errors (channels-redis), sockets' errors.
LAYER_ERRORS = (RedisError, OSError, TimeoutError)


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


# --- the consumers' side: join a group, tell the client to re-read, survive the layer going away ----------

RESYNC = {"event": "resync", "payload": {"detail": "Events are sent from now on; what happened before was not: "
                                                   "read the current state from the API."}}
# Close codes a client should reconnect after (with backoff); 4401 and 4404 mean: do not.
LAYER_LOST = 1012  # "service restart": the channel layer (Redis) failed under an open socket
LAYER_DOWN = 1013  # "try again later": the channel layer could not be reached to join the group


class GroupConsumer(AsyncJsonWebsocketConsumer):
    """A websocket that joins one group and relays its events. The contract with every client:

    - after the handshake the first message is `resync`: events reach the socket only from then on, so a
      client (re)connecting reads the state from the API once; nothing it missed while it had no socket
      is replayed, and none needs to be.
    - when the channel layer (Redis) fails, the socket is closed with 1012 (or, when it cannot even join,
      accepted and closed with 1013) and the failure logged: never left open and deaf. The client
      reconnects with backoff and, on the next `resync`, catches up.
    """

    async def join(self, group: str) -> None:
        try:
            await self.channel_layer.group_add(group, self.channel_name)
        except LAYER_ERRORS as exc:
            log.warning("websocket %s: cannot join %s, the channel layer is unreachable (%r)",
                        self.scope.get("path"), group, exc)
            await self.accept()
            await self.close(code=LAYER_DOWN)
            return
        self.group = group
        await self.accept()
        await self.send_json(RESYNC)

    async def disconnect(self, code):
        if getattr(self, "group", None):
            with contextlib.suppress(*LAYER_ERRORS):  # a layer that is gone has forgotten the group anyway
                await self.channel_layer.group_discard(self.group, self.channel_name)

    async def __call__(self, scope, receive, send):
        try:
            await super().__call__(scope, receive, send)
        except LAYER_ERRORS as exc:
            # Raised by the layer's receive loop (channels' await_many_dispatch): the group's events can no
            # longer reach this socket, so close it and let the client reconnect and re-read.
            log.warning("websocket %s closed: the channel layer failed (%r)", scope.get("path"), exc)
            with contextlib.suppress(Exception):  # the client may be gone as well
                await send({"type": "websocket.close", "code": LAYER_LOST,
                            "reason": "event channel lost; reconnect and re-read"})
