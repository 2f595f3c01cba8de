"""Model backends: the configured ones, the `default` one from the environment, and their client config."""

import os

from django.conf import settings
from django.db import transaction

from annotation.exceptions import NotFound, ValidationFailed

from ..client import BackendConfig
from ..models import ModelBackend, OversightPolicy

DEFAULT = "default"


def backend_default() -> ModelBackend | None:
    """The backend named `default` from STEPWISE_MODEL_BASE_URL / STEPWISE_MODEL_ID (kept in step with them),
    or the stored one of that name, or None."""
    if settings.STEPWISE_MODEL_BASE_URL:
        with transaction.atomic():
            backend, _ = ModelBackend.objects.update_or_create(name=DEFAULT, defaults={
                "base_url": settings.STEPWISE_MODEL_BASE_URL, "model": settings.STEPWISE_MODEL_ID,
                "api_key_env": "STEPWISE_MODEL_API_KEY"})
        return backend
    return ModelBackend.objects.filter(name=DEFAULT).first()


def backend_resolve(*, name: str | None, policy: OversightPolicy | None = None) -> ModelBackend:
    """The backend a pass uses: the one named, else the project's, else `default`; else a clear error."""
    if name:
        if name == DEFAULT:
            backend = backend_default()
        else:
            backend = ModelBackend.objects.filter(name=name).first()
        if backend is None:
            known = ", ".join(ModelBackend.objects.order_by("name").values_list("name", flat=True)) or "none"
            raise NotFound(f"No model backend named '{name}' (known: {known}). Create it in the admin or "
                           "POST /api/oversight/backends/, or set STEPWISE_MODEL_BASE_URL for `default`.")
        return backend
    if policy is not None and policy.backend_id:
        return policy.backend
    backend = backend_default()
    if backend is None:
        raise ValidationFailed("No model backend to run this pass on: set STEPWISE_MODEL_BASE_URL and "
                               "STEPWISE_MODEL_ID (an OpenAI-compatible server), choose one in the project's "
                               "oversight settings, or pass --backend NAME.", field="backend")
    return backend


def backend_config(backend: ModelBackend) -> BackendConfig:
    return BackendConfig(
        base_url=backend.base_url, model=backend.model,
        api_key=os.environ.get(backend.api_key_env, "") if backend.api_key_env else "",
        params=dict(backend.params or {}), max_concurrency=backend.max_concurrency,
        timeout=backend.timeout_seconds, structured_output=backend.structured_output,
        max_response_bytes=settings.STEPWISE_MODEL_MAX_RESPONSE_BYTES)


ALLOWED_PARAMS = {"temperature", "top_p", "max_tokens", "seed", "frequency_penalty", "presence_penalty", "stop"}


def backend_create(*, name: str, base_url: str, model: str, api_key_env: str = "", params: dict | None = None,
                   max_concurrency: int = 8, timeout_seconds: float = 120.0, structured_output: bool = True,
                   is_embedded: bool = False) -> ModelBackend:
    params = params or {}
    unknown = sorted(set(params) - ALLOWED_PARAMS)
    if unknown:
        raise ValidationFailed(f"Unknown default parameter(s) {', '.join(unknown)}; allowed: "
                               f"{', '.join(sorted(ALLOWED_PARAMS))}.", field="params")
    if not base_url.startswith(("http://", "https://")):
        raise ValidationFailed(f"base_url must start with http:// or https://; got {base_url[:80]!r}.",
                               field="base_url")
    if ModelBackend.objects.filter(name=name).exists():
        raise ValidationFailed(f"A backend named '{name}' exists already; pick another name.", field="name")
    return ModelBackend.objects.create(
        name=name, base_url=base_url, model=model, api_key_env=api_key_env, params=params,
        max_concurrency=max_concurrency, timeout_seconds=timeout_seconds, structured_output=structured_output,
        is_embedded=is_embedded)
