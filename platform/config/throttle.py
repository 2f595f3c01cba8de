"""Login throttling for the login form and the API token endpoint, shared through the cache (Redis in a
deployment, so every web process counts the same failures).

A failed login counts against the username and against the client address; past the limit within
the window both entry points refuse further attempts for that username (or address) with 429 and
say when to try again. A success clears the username's count. Correct passwords are refused too
while locked: otherwise the throttle would still let an attacker confirm a guess.
"""

from __future__ import annotations

import hashlib
import time

from django.conf import settings
from django.contrib.auth import authenticate
from django.contrib.auth import views as auth_views
from django.core.cache import cache
from django.utils.decorators import method_decorator
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.authtoken.models import Token
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView


def _key(kind: str, value: str) -> str:
    digest = hashlib.sha256(value.strip().lower().encode()).hexdigest()[:32]
    return f"stepwise:login-fail:{kind}:{digest}"


def client_address(request) -> str:
    """The client's address: the proxy's X-Forwarded-For (its last hop) only when told there is one."""
    if settings.STEPWISE_TRUSTED_PROXY_HOPS:
        forwarded = [a.strip() for a in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if a.strip()]
        if len(forwarded) >= settings.STEPWISE_TRUSTED_PROXY_HOPS:
            return forwarded[-settings.STEPWISE_TRUSTED_PROXY_HOPS]
    return request.META.get("REMOTE_ADDR", "")


def locked_for(*, username: str, address: str) -> int:
    """Seconds until another attempt is allowed (0: allowed now)."""
    now = time.time()
    waits = []
    for kind, value, limit in (("user", username, settings.STEPWISE_LOGIN_MAX_FAILURES),
                               ("addr", address, settings.STEPWISE_LOGIN_MAX_FAILURES_PER_ADDRESS)):
        if not value:
            continue
        record = cache.get(_key(kind, value))
        if record and record["count"] >= limit:
            waits.append(int(record["until"] - now) + 1)
    return max([w for w in waits if w > 0], default=0)


def record_failure(*, username: str, address: str) -> None:
    window = settings.STEPWISE_LOGIN_WINDOW_SECONDS
    for kind, value in (("user", username), ("addr", address)):
        if not value:
            continue
        key = _key(kind, value)
        record = cache.get(key) or {"count": 0, "until": time.time() + window}
        # Not atomic across processes: two racing failures may count once; the limit still holds
        # within one attempt of its value.
        record["count"] += 1
        cache.set(key, record, timeout=max(1, int(record["until"] - time.time())))


def record_success(*, username: str) -> None:
    cache.delete(_key("user", username))


def throttle_reset() -> int:
    """Forget every failed-login count (an admin unlocking everyone; tests). Only the throttle's keys:
    the cache's other entries (import heartbeats) stay. Returns the number of keys removed."""
    client = getattr(getattr(cache, "_cache", None), "get_client", None)
    if client is None:  # not Redis: no key scan; the throttle's keys expire with their window anyway
        cache.clear()
        return 0
    redis = client(write=True)
    keys = list(redis.scan_iter(match="*stepwise:login-fail:*"))  # the cache's KEY_PREFIX comes first
    return redis.delete(*keys) if keys else 0


def _lock_message(seconds: int) -> str:
    return (f"Too many failed logins for this account or address; try again in {seconds} s "
            "(or ask an admin to reset the password).")


@method_decorator([sensitive_post_parameters(), csrf_protect, never_cache], name="dispatch")
class ThrottledLoginView(auth_views.LoginView):
    """Django's login form with the throttle in front of it."""

    redirect_authenticated_user = True

    def post(self, request, *args, **kwargs):
        username = request.POST.get("username", "")[:150]
        wait = locked_for(username=username, address=client_address(request))
        if wait:
            form = self.get_form()
            form.errors.clear()
            response = self.render_to_response(self.get_context_data(form=form, throttled=_lock_message(wait)))
            response.status_code = 429
            response["Retry-After"] = str(wait)
            return response
        return super().post(request, *args, **kwargs)

    def form_valid(self, form):
        record_success(username=form.get_user().get_username())
        return super().form_valid(form)

    def form_invalid(self, form):
        record_failure(username=self.request.POST.get("username", "")[:150], address=client_address(self.request))
        return super().form_invalid(form)


class TokenObtainInput(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=4096, trim_whitespace=False, style={"input_type": "password"})


class TokenObtainApi(APIView):
    """Exchange a username and password for an API token (`Authorization: Token <key>`)."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(request=TokenObtainInput, responses={200: inline_serializer("TokenOutput", {"token": serializers.CharField()})})
    def post(self, request):
        data = TokenObtainInput(data=request.data)
        data.is_valid(raise_exception=True)
        username, password = data.validated_data["username"], data.validated_data["password"]
        address = client_address(request)
        wait = locked_for(username=username, address=address)
        if wait:
            return Response({"detail": _lock_message(wait)}, status=status.HTTP_429_TOO_MANY_REQUESTS,
                            headers={"Retry-After": str(wait)})
        user = authenticate(request._request, username=username, password=password)
        if user is None or not user.is_active:
            record_failure(username=username, address=address)
            return Response({"detail": "Unable to log in with that username and password."},
                            status=status.HTTP_400_BAD_REQUEST)
        record_success(username=username)
        token, _ = Token.objects.get_or_create(user=user)
        return Response({"token": token.key})

