"""Websocket entry point: a page joins its project's group and receives events (imports, submissions)."""

from channels.db import database_sync_to_async

from .exceptions import NotFound
from .realtime import GroupConsumer, project_group
from .selectors import project_get_for_user


class ProjectConsumer(GroupConsumer):
    async def connect(self):
        user = self.scope.get("user")
        slug = self.scope["url_route"]["kwargs"]["slug"]
        if user is None or not user.is_authenticated:
            await self.close(code=4401)
            return
        try:
            project = await database_sync_to_async(project_get_for_user)(slug=slug, user=user)
        except NotFound:
            await self.close(code=4404)
            return
        await self.join(project_group(project.pk))

    async def project_event(self, message):
        await self.send_json({"event": message["event"], "payload": message["payload"]})
