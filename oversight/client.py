"""One async client for every OpenAI-compatible chat-completions server (vLLM, SGLang, TGI, llama.cpp). Pure:
no Django.

    async with ChatClient(BackendConfig(base_url="http://gpu:8000/v1", model="qwen")) as client:
        reply = await client.chat([{"role": "user", "content": "hi"}], schema=SCHEMA)

Limits: at most `max_concurrency` requests in flight (a semaphore; the connection pool has the same
size), a timeout per attempt, and at most `max_response_bytes` read from any answer (a larger one is
an error, never read whole into memory).

Retries, only where safe: a chat completion has no side effect on the server, so sending it again can
only cost compute; still, only failures that say "try again" are retried: the connection could not
be made, 429, 502, 503, 504 (honouring Retry-After up to a bound) and a timeout, with exponential
backoff and jitter, `retries` times. A 500 or a 4xx is the same answer next time: reported at once.
"""

import asyncio
import json
import random
from dataclasses import dataclass, field

import aiohttp

RETRY_STATUSES = frozenset({429, 502, 503, 504})
MAX_RETRY_AFTER = 30.0


class ModelError(Exception):
    """The server could not give an answer. `kind`: unreachable, timeout, http, too_large, bad_response."""

    def __init__(self, kind: str, message: str, *, status: int | None = None):
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.status = status


@dataclass(frozen=True)
class BackendConfig:
    base_url: str
    model: str
    api_key: str = ""
    params: dict = field(default_factory=dict)
    max_concurrency: int = 8
    timeout: float = 120.0
    structured_output: bool = True
    retries: int = 2
    backoff: float = 0.5
    max_response_bytes: int = 1 << 20

    @property
    def url(self) -> str:
        return self.base_url.rstrip("/") + "/chat/completions"


@dataclass(frozen=True)
class ChatReply:
    content: str
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int


class ChatClient:
    def __init__(self, config: BackendConfig):
        self.config = config
        self._session: aiohttp.ClientSession | None = None
        self._slots = asyncio.Semaphore(config.max_concurrency)

    async def __aenter__(self) -> "ChatClient":
        headers = {"Content-Type": "application/json"}
        if self.config.api_key:
            headers["Authorization"] = f"Bearer {self.config.api_key}"
        self._session = aiohttp.ClientSession(
            headers=headers, connector=aiohttp.TCPConnector(limit=self.config.max_concurrency),
            # Per attempt: the whole exchange, and the connection within it.
            timeout=aiohttp.ClientTimeout(total=self.config.timeout, connect=min(10.0, self.config.timeout)))
        return self

    async def __aexit__(self, *exc) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def body(self, messages: list[dict], *, schema: dict | None, max_tokens: int | None) -> dict:
        body = {"model": self.config.model, "messages": messages, **self.config.params}
        if max_tokens is not None:
            body["max_tokens"] = max_tokens
        if schema is not None and self.config.structured_output:
            body["response_format"] = {"type": "json_schema",
                                       "json_schema": {"name": "answer", "schema": schema, "strict": True}}
        return body

    async def chat(self, messages: list[dict], *, schema: dict | None = None, max_tokens: int | None = None) -> ChatReply:
        body = self.body(messages, schema=schema, max_tokens=max_tokens)
        async with self._slots:
            attempt = 0
            while True:
                try:
                    return await self._post(body)
                except _Retryable as exc:
                    if attempt >= self.config.retries:
                        raise exc.error from None
                    delay = exc.retry_after if exc.retry_after is not None else \
                        self.config.backoff * (2 ** attempt) * (0.5 + random.random())  # noqa: S311 (jitter)
                    attempt += 1
                    await asyncio.sleep(min(delay, MAX_RETRY_AFTER))

    async def _post(self, body: dict) -> ChatReply:
        assert self._session is not None, "use `async with ChatClient(...)`"
        url = self.config.url
        try:
            async with self._session.post(url, json=body) as response:
                data = await self._read(response)
                if response.status in RETRY_STATUSES:
                    raise _Retryable(ModelError("http", f"HTTP {response.status} from {url}: {_preview(data)}",
                                                status=response.status), _retry_after(response))
                if response.status != 200:
                    raise ModelError("http", f"HTTP {response.status} from {url}: {_preview(data)}",
                                     status=response.status)
        except TimeoutError:
            raise _Retryable(ModelError(
                "timeout", f"no answer from {url} within {self.config.timeout:g} s (raise the backend's timeout "
                           "if the model is slow)"), None) from None
        except aiohttp.ClientConnectorError as exc:
            raise _Retryable(ModelError("unreachable", f"cannot connect to {url}: {exc.os_error or exc}. Is the "
                                        "model server running, and is the backend's base URL right?"), None) from None
        except (aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError, aiohttp.ClientOSError) as exc:
            raise _Retryable(ModelError("unreachable", f"the connection to {url} broke: {exc}"), None) from None
        return _parse_reply(data, url)

    async def _read(self, response: aiohttp.ClientResponse) -> bytes:
        limit = self.config.max_response_bytes
        if response.content_length is not None and response.content_length > limit:
            raise ModelError("too_large", f"the answer from {self.config.url} is {response.content_length} bytes, "
                                          f"over the limit of {limit}")
        chunks, size = [], 0
        async for chunk in response.content.iter_chunked(64 * 1024):
            size += len(chunk)
            if size > limit:
                raise ModelError("too_large", f"the answer from {self.config.url} passed the limit of {limit} bytes")
            chunks.append(chunk)
        return b"".join(chunks)


class _Retryable(Exception):
    def __init__(self, error: ModelError, retry_after: float | None):
        self.error = error
        self.retry_after = retry_after


def _retry_after(response: aiohttp.ClientResponse) -> float | None:
    try:
        return max(0.0, float(response.headers.get("Retry-After", "")))
    except ValueError:
        return None


def _preview(data: bytes, limit: int = 300) -> str:
    text = data.decode("utf-8", "replace").strip()
    return (text[:limit] + "…") if len(text) > limit else (text or "(empty body)")


def _parse_reply(data: bytes, url: str) -> ChatReply:
    """The first choice of a chat-completions answer; anything else is a bad_response, saying what came."""
    try:
        payload = json.loads(data)
        choice = payload["choices"][0]
        content = choice["message"].get("content") or ""
        if not isinstance(content, str):
            raise TypeError(f"message.content is {type(content).__name__}")
        usage = payload.get("usage") or {}
        return ChatReply(content=content, finish_reason=str(choice.get("finish_reason") or ""),
                         prompt_tokens=int(usage.get("prompt_tokens") or 0),
                         completion_tokens=int(usage.get("completion_tokens") or 0))
    except (ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
        raise ModelError("bad_response", f"{url} did not answer as a chat-completions server ({exc!r}): "
                                         f"{_preview(data)}") from None
