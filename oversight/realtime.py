"""Channels group names and broadcasts of the oversight app: one group per chain.

Sync callers (services, after commit) use `broadcast_chain_event`; the async pass runner sends with
`chain_event_async`. A page not told of progress must never undo a write that already committed, so a
failed send is logged, never raised: the page catches up on its next read of the API.
"""

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

log = logging.getLogger(__name__)


def chain_group(chain_id: int) -> str:
    return f"oversight-chain-{chain_id}"


def _message(event: str, payload: dict) -> dict:
    return {"type": "oversight.event", "event": event, "payload": payload}


async def chain_event_async(chain_id: int, event: str, payload: dict) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        await layer.group_send(chain_group(chain_id), _message(event, payload))
    except Exception:
        log.exception("broadcast of %s to chain %s failed", event, chain_id)


def broadcast_chain_event(chain_id: int, event: str, payload: dict) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    send = async_to_sync(layer.group_send)
    try:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            send(chain_group(chain_id), _message(event, payload))
            return
        # This thread runs an event loop (a sync service called under an async caller): send from another.
        with ThreadPoolExecutor(max_workers=1) as pool:
            pool.submit(send, chain_group(chain_id), _message(event, payload)).result(timeout=10)
    except Exception:
        log.exception("broadcast of %s to chain %s failed", event, chain_id)
