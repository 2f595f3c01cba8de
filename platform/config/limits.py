"""Request limits enforced before Django reads a body, and JSON that cannot exhaust the stack.

`BodyLimit` wraps the ASGI application (config/asgi.py), so it runs inside the app server, before
Django's handler reads the body into a spooled file:
- a request whose Content-Length is over its limit is answered 413 without reading a byte of it;
- a body sent without Content-Length (chunked) is counted as it arrives and cut off at the limit
  (the app sees a disconnect, the client a 413);
- bodies larger than STEPWISE_MAX_BODY_BYTES are only accepted as multipart uploads from a signed-in
  user (a live session or an API token, checked with one query before the body is read), up to
  STEPWISE_UPLOAD_MAX_BYTES. So an anonymous client cannot make the server store 200 MB.
The proxy in docker-compose.yml (nginx `client_max_body_size`) refuses the same sizes one hop earlier.

`BoundedJSONParser` replaces DRF's JSON parser: orjson (which refuses nesting deeper than 1024 rather
than overflowing the C stack) and then a depth check of STEPWISE_JSON_MAX_DEPTH.
"""

from __future__ import annotations

import html
from http.cookies import SimpleCookie

import orjson
from asgiref.sync import sync_to_async
from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import BaseParser


def human_size(n: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n} {unit}" if unit == "bytes" else f"{n:.1f} {unit}".replace(".0 ", " ")
        n /= 1024
    return str(n)


def _headers(scope) -> dict[bytes, bytes]:
    return {name.lower(): value for name, value in scope.get("headers", [])}


def wants_json(scope) -> bool:
    accept = _headers(scope).get(b"accept", b"")
    return scope.get("path", "").startswith("/api/") or b"json" in accept


async def send_refusal(send, scope, status: int, message: str, *, extra: dict | None = None,
                       headers: list[tuple[bytes, bytes]] | None = None) -> None:
    """A complete HTTP response: JSON for API clients, a small escaped page for browsers."""
    if wants_json(scope):
        body = orjson.dumps({"detail": message, **(extra or {})})
        content_type = b"application/json"
    else:
        body = (f"<!doctype html><title>{status}</title><h1>Request refused ({status})</h1>"
                f"<p>{html.escape(message)}</p>").encode()
        content_type = b"text/html; charset=utf-8"
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", content_type), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close"), *(headers or [])]})
    await send({"type": "http.response.body", "body": body})


def _has_live_credentials(headers: dict[bytes, bytes]) -> bool:
    """A session of a signed-in user, or a known API token (one query). Runs in a thread."""
    from django.contrib.auth import SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore
    from django.db import close_old_connections
    from rest_framework.authtoken.models import Token

    close_old_connections()
    auth = headers.get(b"authorization", b"").decode("latin-1").split()
    if len(auth) == 2 and auth[0].lower() == "token":
        return Token.objects.filter(key=auth[1][:40], user__is_active=True).exists()
    cookie = SimpleCookie()
    try:
        cookie.load(headers.get(b"cookie", b"").decode("latin-1"))
    except Exception:  # a malformed cookie header is no credential
        return False
    morsel = cookie.get(settings.SESSION_COOKIE_NAME)
    if morsel is None:
        return False
    return SESSION_KEY in SessionStore(session_key=morsel.value).load()


class BodyLimit:
    """ASGI middleware: the size limits above, for every HTTP request (websockets pass through)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope.get("method") in ("GET", "HEAD", "OPTIONS"):
            return await self.app(scope, receive, send)
        headers = _headers(scope)
        small = settings.STEPWISE_MAX_BODY_BYTES
        upload = settings.STEPWISE_UPLOAD_MAX_BYTES
        is_multipart = headers.get(b"content-type", b"").lower().startswith(b"multipart/form-data")
        limit = max(small, upload) if is_multipart else small
        raw_length = headers.get(b"content-length")
        length = None
        if raw_length is not None:
            try:
                length = int(raw_length)
            except ValueError:
                return await send_refusal(send, scope, 400, f"Content-Length {raw_length[:20]!r} is not a number.")
        if length is not None and length > limit:
            return await send_refusal(send, scope, 413, _too_large(length, limit, is_multipart),
                                      extra={"limit_bytes": limit, "setting": _setting(is_multipart)})
        if length is not None and length > small and not await sync_to_async(_has_live_credentials)(headers):
            return await send_refusal(send, scope, 401, f"A body over {human_size(small)} is accepted only from a "
                                      "signed-in user: log in (or send 'Authorization: Token …') and upload again.",
                                      headers=[(b"www-authenticate", b'Token realm="api"')])
        if length is not None:
            return await self.app(scope, receive, send)
        return await self._counted(scope, receive, send, small)

    async def _counted(self, scope, receive, send, limit):
        """No Content-Length: count the chunks; past `limit`, refuse and tell the app the client left.
        (Chunked bodies get the small limit: an upload states its length.)"""
        received = 0
        refused = False
        started = False

        async def limited_receive():
            nonlocal received, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    refused = True
                    if not started:
                        await send_refusal(send, scope, 413, _too_large(received, limit, False, exact=False),
                                           extra={"limit_bytes": limit, "setting": "STEPWISE_MAX_BODY_BYTES"})
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message):
            nonlocal started
            if refused:
                return  # the refusal is the response
            started = True
            await send(message)

        return await self.app(scope, limited_receive, guarded_send)


def _setting(is_multipart: bool) -> str:
    return "STEPWISE_UPLOAD_MAX_BYTES" if is_multipart else "STEPWISE_MAX_BODY_BYTES"


def _too_large(size: int, limit: int, is_multipart: bool, *, exact: bool = True) -> str:
    what = f"{human_size(size)}" if exact else f"more than {human_size(limit)}"
    if is_multipart:
        return (f"The upload is {what}; at most {human_size(limit)} per request ({_setting(True)}). "
                "Split the file and upload the parts one after another.")
    return (f"The request body is {what}; at most {human_size(limit)} ({_setting(False)}). "
            "Send fewer items per request.")


# --- JSON --------------------------------------------------------------------------------------------

def json_depth_error(value, limit: int) -> str | None:
    """Where `value` nests deeper than `limit` (containers inside containers), else None. Iterative."""
    stack = [(value, 1, "$")]
    while stack:
        item, depth, path = stack.pop()
        if depth > limit:
            return path
        if isinstance(item, dict):
            stack.extend((v, depth + 1, f"{path}.{k}"[:200]) for k, v in item.items() if isinstance(v, dict | list))
        elif isinstance(item, list):
            stack.extend((v, depth + 1, f"{path}[{i}]"[:200]) for i, v in enumerate(item) if isinstance(v, dict | list))
    return None


class BoundedJSONParser(BaseParser):
    """DRF's JSON parser, without the ways a body can crash it: bounded depth, clear messages."""

    media_type = "application/json"

    def parse(self, stream, media_type=None, parser_context=None):
        raw = stream.read() if stream is not None else b""
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            if "depth limit" in str(exc) or "recursion" in str(exc).lower():
                raise ParseError(f"The JSON body nests deeper than {settings.STEPWISE_JSON_MAX_DEPTH} levels; "
                                 "send a flatter document.") from None
            raise ParseError(f"The body is not valid JSON: {exc}. Send a JSON document "
                             "(Content-Type: application/json).") from None
        where = json_depth_error(data, settings.STEPWISE_JSON_MAX_DEPTH)
        if where:
            raise ParseError(f"The JSON body nests deeper than {settings.STEPWISE_JSON_MAX_DEPTH} levels (at {where}); "
                             "send a flatter document.")
        return data
