"""Channels: a page's websocket joins its project group and receives events, through channels-redis."""

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import Client

from annotation.realtime import broadcast_project_event
from config.asgi import application


def session_headers(user):
    client = Client()
    client.force_login(user)
    return [(b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode()), (b"origin", b"http://localhost")]


@pytest.fixture
def member_headers(transactional_db, project, annotator):
    return session_headers(annotator)


@pytest.fixture
def outsider_headers(transactional_db, outsider):
    return session_headers(outsider)


def test_the_suite_runs_channels_on_redis():
    assert settings.CHANNEL_LAYERS["default"]["BACKEND"] == "channels_redis.core.RedisChannelLayer"


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_project_event_round_trip_through_redis(project, member_headers):
    communicator = WebsocketCommunicator(application, f"/ws/projects/{project.slug}/", headers=member_headers)
    connected, _ = await communicator.connect()
    assert connected
    # The first message tells the client to read the state: nothing before it reaches the socket.
    assert (await communicator.receive_json_from(timeout=5))["event"] == "resync"
    # The broadcast is what services call after commit; it goes out through the Redis layer.
    await sync_to_async(broadcast_project_event)(project.pk, "import.done", {"chains_created": 3})
    message = await communicator.receive_json_from(timeout=5)
    assert message == {"event": "import.done", "payload": {"chains_created": 3}}
    await communicator.disconnect()
    assert type(get_channel_layer()).__name__ == "RedisChannelLayer"


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_outsider_and_anonymous_are_turned_away(project, outsider_headers):
    communicator = WebsocketCommunicator(application, f"/ws/projects/{project.slug}/", headers=outsider_headers)
    connected, code = await communicator.connect()
    assert not connected and code == 4404
    anonymous = WebsocketCommunicator(application, f"/ws/projects/{project.slug}/",
                                      headers=[(b"origin", b"http://localhost")])
    connected, code = await anonymous.connect()
    assert not connected and code == 4401
