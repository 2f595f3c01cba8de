"""Cross-cutting defences: response headers (CSP and friends), a clean 503 when the database is
unreachable, and the websocket Origin check (host and port)."""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from django.conf import settings
from django.db import InterfaceError, OperationalError, connections
from django.http import HttpResponse, JsonResponse
from django.utils.html import escape

log = logging.getLogger(__name__)

PERMISSIONS_POLICY = ("accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), "
                      "microphone=(), payment=(), usb=(), interest-cohort=()")


class SecurityHeadersMiddleware:
    """CSP, Permissions-Policy and Cross-Origin-Resource-Policy on every response (HSTS, nosniff,
    Referrer-Policy and COOP come from Django's SecurityMiddleware, configured in settings)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        response.headers.setdefault("Content-Security-Policy", settings.STEPWISE_CSP)
        response.headers.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
        response.headers.setdefault("Cross-Origin-Resource-Policy", "same-origin")
        return response


DATABASE_DOWN = ("The database is unreachable just now; nothing was saved by this request. "
                 "Try again in a few seconds (the page keeps your unsaved work and retries by itself).")


class DatabaseUnavailableMiddleware:
    """A dropped or refused database connection answers 503 with Retry-After (JSON for API clients),
    not a 500 page; the broken connection is closed so the next request opens a fresh one."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, OperationalError | InterfaceError):
            return None
        log.warning("database unavailable during %s %s: %s", request.method, request.path, exception)
        for connection in connections.all(initialized_only=True):
            if connection.connection is not None and not connection.is_usable():
                connection.close()
        if request.path.startswith("/api/") or "json" in request.headers.get("Accept", ""):
            response = JsonResponse({"detail": DATABASE_DOWN, "retry_after": 5}, status=503)
        else:
            response = HttpResponse(f"<!doctype html><title>503</title><h1>Temporarily unavailable</h1>"
                                    f"<p>{escape(DATABASE_DOWN)}</p>", status=503)
        response["Retry-After"] = "5"
        return response


def _origin_tuple(url: str, default_scheme: str = "http") -> tuple[str, str, int] | None:
    parts = urlsplit(url if "://" in url else f"{default_scheme}://{url}")
    if not parts.hostname:
        return None
    scheme = parts.scheme.lower()
    try:
        port = parts.port or (443 if scheme in ("https", "wss") else 80)
    except ValueError:
        return None
    return ("https" if scheme in ("https", "wss") else "http", parts.hostname.lower(), port)


def websocket_origin_allowed(scope) -> bool:
    """The Origin must be this site (same host *and port* as the Host header, the scheme the
    connection came in on, or what the TLS proxy says) or one of CSRF_TRUSTED_ORIGINS; a missing
    Origin is refused (browsers always send one)."""
    headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope.get("headers", [])}
    origin = headers.get("origin")
    if not origin or origin == "null":
        return False
    found = _origin_tuple(origin)
    if found is None:
        return False
    trusted = [_origin_tuple(o) for o in settings.CSRF_TRUSTED_ORIGINS]
    if found in trusted:
        return True
    from django.http.request import validate_host

    host = headers.get("host")
    if not host:
        # Every HTTP/1.1 handshake carries Host; only in-process test clients leave it out.
        return validate_host(found[1], settings.ALLOWED_HOSTS)
    secure = scope.get("scheme") in ("https", "wss")
    if settings.SECURE_PROXY_SSL_HEADER:
        name = settings.SECURE_PROXY_SSL_HEADER[0].removeprefix("HTTP_").replace("_", "-").lower()
        secure = secure or headers.get(name, "").lower() == settings.SECURE_PROXY_SSL_HEADER[1]
    here = _origin_tuple(host, "https" if secure else "http")
    return here is not None and found == here and validate_host(here[1], settings.ALLOWED_HOSTS)


class OriginValidator:
    """ASGI middleware for websockets: refuse the handshake (403) when the Origin is not this site."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "websocket" and not websocket_origin_allowed(scope):
            from channels.security.websocket import WebsocketDenier

            return await WebsocketDenier.as_asgi()(scope, receive, send)
        return await self.app(scope, receive, send)
