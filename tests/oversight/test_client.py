"""The model client against a real HTTP server speaking chat completions: answers, limits, failures, retries."""

import asyncio
import json
import socket

import pytest

from oversight.client import BackendConfig, ChatClient, ModelError
from tests.oversight.fake_server import FakeModelServer, Reply

MESSAGES = [{"role": "user", "content": "hi"}]


@pytest.fixture
def server():
    with FakeModelServer() as s:
        yield s


def run(coro):
    return asyncio.run(coro)


async def ask(config, n=1, **kw):
    async with ChatClient(config) as client:
        return await asyncio.gather(*(client.chat(MESSAGES, **kw) for _ in range(n)))


def config(server, **kw):
    return BackendConfig(**{"base_url": server.base_url, "model": "fake", "backoff": 0.01, **kw})


def test_answer_with_schema_and_key(server):
    server.script = lambda r: Reply(content="hello")
    [reply] = run(ask(config(server, api_key="k", params={"temperature": 0}), schema={"type": "object"},
                      max_tokens=50))
    assert reply.content == "hello" and reply.finish_reason == "stop" and reply.prompt_tokens == 100
    body = server.requests[0]
    assert body["model"] == "fake" and body["temperature"] == 0 and body["max_tokens"] == 50
    assert body["response_format"]["type"] == "json_schema"
    assert body["response_format"]["json_schema"]["schema"] == {"type": "object"}


def test_no_schema_when_the_server_has_no_structured_output(server):
    run(ask(config(server, structured_output=False), schema={"type": "object"}))
    assert "response_format" not in server.requests[0]


def test_a_500_is_reported_at_once_not_retried(server):
    server.script = lambda r: Reply(status=500, raw=b'{"error": "bad schema"}')
    with pytest.raises(ModelError) as caught:
        run(ask(config(server, retries=3)))
    assert caught.value.kind == "http" and caught.value.status == 500 and "bad schema" in caught.value.message
    assert len(server.requests) == 1


def test_503_then_success_is_retried(server):
    answers = iter([Reply(status=503, raw=b"busy"), Reply(status=429, raw=b"slow down", headers={"Retry-After": "0"}),
                    Reply(content="ok")])
    server.script = lambda r: next(answers)
    [reply] = run(ask(config(server, retries=2)))
    assert reply.content == "ok" and len(server.requests) == 3


def test_retries_end(server):
    server.script = lambda r: Reply(status=503, raw=b"busy")
    with pytest.raises(ModelError, match="HTTP 503"):
        run(ask(config(server, retries=1)))
    assert len(server.requests) == 2


def test_timeout(server):
    server.script = lambda r: Reply(content="late", delay=1.0)
    with pytest.raises(ModelError) as caught:
        run(ask(config(server, timeout=0.2, retries=0)))
    assert caught.value.kind == "timeout" and "0.2 s" in caught.value.message


def test_unreachable_server_says_so():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    with pytest.raises(ModelError) as caught:
        run(ask(BackendConfig(base_url=f"http://127.0.0.1:{port}/v1", model="m", retries=1, backoff=0.01)))
    assert caught.value.kind == "unreachable" and "Is the model server running" in caught.value.message


def test_an_answer_over_the_size_limit_is_refused(server):
    server.script = lambda r: Reply(content="x" * 50_000)
    with pytest.raises(ModelError) as caught:
        run(ask(config(server, max_response_bytes=10_000)))
    assert caught.value.kind == "too_large"


@pytest.mark.parametrize("raw", [b"not json", b'{"choices": []}', b'{"choices": [{"message": {"content": 5}}]}',
                                 json.dumps({"error": "x"}).encode()])
def test_a_body_that_is_not_chat_completions(server, raw):
    server.script = lambda r: Reply(raw=raw)
    with pytest.raises(ModelError) as caught:
        run(ask(config(server)))
    assert caught.value.kind == "bad_response"


def test_concurrency_is_bounded_and_used(server):
    server.latency = 0.1
    replies = run(ask(config(server, max_concurrency=4), n=16))
    assert len(replies) == 16 and server.peak == 4
