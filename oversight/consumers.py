"""Websocket entry point: a page joins one chain's group and receives its runs' progress and results."""

from channels.db import database_sync_to_async

from annotation.exceptions import NotFound
from annotation.realtime import GroupConsumer

from .realtime import chain_group
from .selectors import chain_get_for_user


class OversightChainConsumer(GroupConsumer):
    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=4401)
            return
        try:
            chain = await database_sync_to_async(chain_get_for_user)(pk=self.scope["url_route"]["kwargs"]["pk"],
                                                                     user=user)
        except NotFound:
            await self.close(code=4404)
            return
        await self.join(chain_group(chain.pk))

    async def oversight_event(self, message):
        await self.send_json({"event": message["event"], "payload": message["payload"]})
