"""Stepwise settings: one module, configured by environment variables (see .env.example).

With no variable set you get the embedded default: SQLite under var/, an in-memory channel layer,
Celery on kombu's filesystem transport (a worker process, no broker server), a generated secret.
"""

import secrets
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from .env import env_bool, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = Path(env_str("STEPWISE_VAR_DIR") or BASE_DIR / "var")
VAR_DIR.mkdir(parents=True, exist_ok=True)

DATABASE_URL = env_str("DATABASE_URL")
REDIS_URL = env_str("REDIS_URL")
EMBEDDED = not DATABASE_URL

# Embedded default is a developer's machine: DEBUG on unless told otherwise. Anything with a real
# database is a deployment: DEBUG off unless told otherwise.
DEBUG = env_bool("DEBUG", EMBEDDED)


def _secret_key() -> str:
    key = env_str("SECRET_KEY")
    if key:
        return key
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set and DEBUG is off. Set SECRET_KEY to a long random string, e.g. "
            "`python -c 'import secrets; print(secrets.token_urlsafe(50))'`, in the environment or .env."
        )
    # Embedded default: generate once and keep it under var/ so logins survive restarts.
    path = VAR_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"] if DEBUG else [])
if not DEBUG and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS is empty and DEBUG is off: list the host names this site answers to.")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

# Not "daphne": as an app it only swaps `runserver` for its ASGI one, and loading it puts Twisted in every process
# (41 MB of each Celery worker, export and uvicorn worker). The servers are started as programs (uvicorn in the
# demo and production, `python -m daphne` in the browser tests), which import what they need.
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "annotation",
    "oversight",
    "review",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "config.security.SecurityHeadersMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, so they see the exceptions of views: a lost database connection answers 503, and a domain
    # error reaching a page (NotFound, PermissionDenied) its own status, not 500.
    "config.security.DatabaseUnavailableMiddleware",
    "annotation.middleware.StepwiseErrorMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

if EMBEDDED:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": VAR_DIR / "stepwise.sqlite3",
            "OPTIONS": {
                # The web server and the worker process write the same file: WAL lets readers go on
                # while one writes, IMMEDIATE takes the write lock up front so two writers queue on
                # `timeout` instead of failing with "database is locked" on lock upgrade.
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
                "transaction_mode": "IMMEDIATE",
                "timeout": 30,
            },
        }
    }
else:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 60))}
    # A psycopg connection pool per process (Django 5.1+). Under ASGI every request may run in another
    # thread, so Django's own persistent connections (CONN_MAX_AGE) pile up to PostgreSQL's client limit,
    # and a fresh connection per request costs a PostgreSQL backend fork: the pool lends one per request.
    # Size it to (web threads + Celery concurrency) per process, and keep the sum under max_connections.
    if DB_POOL_MAX_SIZE := env_int("DB_POOL_MAX_SIZE", 0):
        DATABASES["default"]["CONN_MAX_AGE"] = 0  # the pool keeps the connections; Django must not as well
        DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
            "min_size": min(env_int("DB_POOL_MIN_SIZE", 2), DB_POOL_MAX_SIZE), "max_size": DB_POOL_MAX_SIZE,
            "timeout": env_int("DB_POOL_TIMEOUT", 10)}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "staticfiles"
STATIC_ROOT.mkdir(exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static"]
# Serve static files from the app in every mode (KaTeX is local: no CDN); whitenoise finds them
# without collectstatic while DEBUG is on.
WHITENOISE_USE_FINDERS = DEBUG
MEDIA_ROOT = VAR_DIR / "media"
# Uploaded files (imports): local files under MEDIA_ROOT in the embedded default; with STEPWISE_S3_BUCKET,
# an S3-compatible store (MinIO in docker-compose.yml) through django-storages, so that a worker on another
# machine reads what the web machine stored. Credentials: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY.
STEPWISE_S3_BUCKET = env_str("STEPWISE_S3_BUCKET")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
if STEPWISE_S3_BUCKET:
    STORAGES["default"] = {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": {
        "bucket_name": STEPWISE_S3_BUCKET,
        "endpoint_url": env_str("STEPWISE_S3_ENDPOINT_URL") or None,  # e.g. http://minio:9000; none: AWS
        "region_name": env_str("STEPWISE_S3_REGION") or "us-east-1",
        "addressing_style": "path",  # MinIO and most S3-compatible servers: bucket in the path
        "file_overwrite": False,  # two uploads of the same name keep both
        "default_acl": None,  # private: the bucket's policy decides, nothing is public
        "querystring_auth": True,
    }}
    # Dataset releases (review/releases_store.py) in the same bucket under releases/<id>/: a worker builds
    # them in a local scratch folder and uploads each file as a multipart upload of 8 MB parts, at most two
    # in flight and two read ahead, so its memory stays flat whatever the size. The same name is overwritten: a build retried
    # after its worker died writes the same files again. Downloads stream through the app, or with
    # STEPWISE_S3_PRESIGNED_DOWNLOADS redirect to a presigned URL (only where browsers reach the bucket's
    # endpoint: on AWS, not MinIO on the compose file's internal network).
    from boto3.s3.transfer import TransferConfig

    RELEASE_TRANSFERS = TransferConfig(multipart_threshold=8 << 20, multipart_chunksize=8 << 20, max_concurrency=2)
    # boto3 reads up to 10 parts ahead by default (+93 / +101 MB peak for a 96 / 384 MB file; +37 MB with 2);
    # its TransferConfig takes this s3transfer setting only as an attribute.
    RELEASE_TRANSFERS.max_in_memory_upload_chunks = 2
    STORAGES["releases"] = {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": {
        **STORAGES["default"]["OPTIONS"], "location": "releases", "file_overwrite": True,
        "querystring_expire": 300, "signature_version": "s3v4",  # presigned URLs as AWS and MinIO sign them now
        "transfer_config": RELEASE_TRANSFERS,
    }}
STEPWISE_S3_PRESIGNED_DOWNLOADS = env_bool("STEPWISE_S3_PRESIGNED_DOWNLOADS", False)

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("BEHIND_TLS_PROXY", False) else None
# Behind TLS (DEBUG off): plain http is redirected to https, and browsers are told to stay on https
# (HSTS). The health check answers on plain http for the load balancer. Set SECURE_SSL_REDIRECT=false
# only when the proxy redirects itself.
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SECURE_REDIRECT_EXEMPT = [r"^health/$"]
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
# Deployers' choices (`check --deploy` warns W005/W021 until made): every subdomain on https, and the
# browsers' preload list.
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
# Content-Security-Policy (config/security.py): no inline scripts anywhere, every page's script is a
# static file and data travels as <script type="application/json">, never executed. Inline style
# attributes are allowed: KaTeX positions glyphs with them, and progress bars set a width.
STEPWISE_CSP = env_str("STEPWISE_CSP") or "; ".join([
    "default-src 'self'", "script-src 'self'", "style-src 'self' 'unsafe-inline'", "img-src 'self' data:",
    "font-src 'self' data:", "connect-src 'self'", "object-src 'none'", "base-uri 'none'", "form-action 'self'",
    "frame-ancestors 'none'"])

# Limits (config/limits.py), enforced before a body is read. Each refusal names the setting to raise.
# Any request body (JSON, forms):
STEPWISE_MAX_BODY_BYTES = env_int("STEPWISE_MAX_BODY_BYTES", 20 * 1024 * 1024, minimum=1024)
# A multipart upload from a signed-in user (imports); anonymous clients get the limit above.
STEPWISE_UPLOAD_MAX_BYTES = env_int("STEPWISE_UPLOAD_MAX_BYTES", 1 << 30, minimum=1024)
# Containers inside containers in a JSON body.
STEPWISE_JSON_MAX_DEPTH = env_int("STEPWISE_JSON_MAX_DEPTH", 32, minimum=4)
# Login throttling (config/throttle.py): failures per username, and per client address, in the window.
STEPWISE_LOGIN_MAX_FAILURES = env_int("STEPWISE_LOGIN_MAX_FAILURES", 5, minimum=1)
STEPWISE_LOGIN_MAX_FAILURES_PER_ADDRESS = env_int("STEPWISE_LOGIN_MAX_FAILURES_PER_ADDRESS", 20, minimum=1)
STEPWISE_LOGIN_WINDOW_SECONDS = env_int("STEPWISE_LOGIN_WINDOW_SECONDS", 15 * 60, minimum=1)
# How many proxies in front add themselves to X-Forwarded-For (1 behind the compose file's nginx);
# 0 trusts no such header and counts failures by the connection's address.
STEPWISE_TRUSTED_PROXY_HOPS = env_int("STEPWISE_TRUSTED_PROXY_HOPS", 0)

REST_FRAMEWORK = {
    # Token first: DRF answers an anonymous call with the first class's challenge, so a client without
    # credentials gets 401 with `WWW-Authenticate: Token` (session first would make it a bare 403).
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    # JSON with bounded depth (config/limits.py), forms, multipart.
    "DEFAULT_PARSER_CLASSES": [
        "config.limits.BoundedJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "annotation.api.errors.exception_handler",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 100,
    # `?format=` names an export format here, not a DRF renderer.
    "URL_FORMAT_OVERRIDE": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Stepwise API",
    "DESCRIPTION": "Import chains, annotate steps, export process-supervision datasets.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Two "status" enums (import jobs, the chain list's queue status) need names of their own.
    "ENUM_NAME_OVERRIDES": {"ChainQueueStatusEnum": "annotation.api.serializers.QUEUE_STATUS_NAMES"},
}

# Channels: Redis when REDIS_URL is set (several web processes share groups), else in-memory.
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": [REDIS_URL]}}
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# Celery: an explicit broker, else Redis, else kombu's filesystem transport (no server needed; the
# embedded worker process and the web process share a folder under var/).
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL") or REDIS_URL or "filesystem://"
if CELERY_BROKER_URL.startswith("filesystem://"):
    _queue_dir = VAR_DIR / "celery"
    for sub in ("queue", "processed", "control"):
        (_queue_dir / sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_queue_dir / "queue"),
        "data_folder_out": str(_queue_dir / "queue"),
        "processed_folder": str(_queue_dir / "processed"),
        # The exchange tables; kombu's default is a folder named `control` in the working directory.
        "control_folder": str(_queue_dir / "control"),
        "store_processed": False,
    }
# Results live in our own tables (ImportJob etc.); no result backend to run or expire.
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True  # a task lost with its worker runs again; tasks are safe to run twice
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ROUTES = {"review.tasks.*": {"queue": "exports"}, "oversight.tasks.*": {"queue": "oversight"}}
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# Import files above this size are handed to the worker instead of being processed in the request.
STEPWISE_IMPORT_SYNC_MAX_BYTES = env_int("STEPWISE_IMPORT_SYNC_MAX_BYTES", 2 * 1024 * 1024)
# Import limits: each refusal names the setting to raise.
STEPWISE_IMPORT_MAX_BYTES = env_int("STEPWISE_IMPORT_MAX_BYTES", 1 << 30, minimum=1)
STEPWISE_IMPORT_MAX_STEPS = env_int("STEPWISE_IMPORT_MAX_STEPS", 20_000, minimum=1)
STEPWISE_IMPORT_MAX_STEP_CHARS = env_int("STEPWISE_IMPORT_MAX_STEP_CHARS", 100_000, minimum=1)
STEPWISE_IMPORT_MAX_ROW_BYTES = env_int("STEPWISE_IMPORT_MAX_ROW_BYTES", 64 << 20, minimum=1024)
# Exports and releases of projects with at least this many chains write their second half in a forked second
# process on PostgreSQL (review/export_parts.py): about half the wall time on two cores.
STEPWISE_EXPORT_SPLIT_MIN_CHAINS = env_int("STEPWISE_EXPORT_SPLIT_MIN_CHAINS", 20_000, minimum=2)
# Uploaded files of finished (done or refused) imports are deleted after this many hours.
STEPWISE_IMPORT_RETENTION_HOURS = env_int("STEPWISE_IMPORT_RETENTION_HOURS", 24)
# A running import writes a heartbeat this often; one silent for STALE seconds is taken as dead and run
# again (its transaction died with its worker).
STEPWISE_IMPORT_HEARTBEAT_SECONDS = env_int("STEPWISE_IMPORT_HEARTBEAT_SECONDS", 5, minimum=1)
STEPWISE_IMPORT_STALE_SECONDS = env_int("STEPWISE_IMPORT_STALE_SECONDS", 60, minimum=2)
if STEPWISE_IMPORT_STALE_SECONDS <= 2 * STEPWISE_IMPORT_HEARTBEAT_SECONDS:
    raise ImproperlyConfigured("STEPWISE_IMPORT_STALE_SECONDS must be more than twice STEPWISE_IMPORT_HEARTBEAT_SECONDS, "
                               "or live imports would be taken for dead ones.")
# A queued import no worker starts within this many seconds ends failed, saying so.
STEPWISE_IMPORT_QUEUE_TIMEOUT = env_int("STEPWISE_IMPORT_QUEUE_TIMEOUT", 30 * 60, minimum=60)
# The annotation workspace loads these ES modules (static paths) after itself: extensions such as the
# oversight app's critiques register through window.StepwiseWorkspace (docs/architecture.md).
# The oversight app's module (js/oversight/workspace.js) asks the oversight API first and shows nothing,
# and opens no websocket, on an assignment with no assistance.
STEPWISE_WORKSPACE_EXTENSIONS = env_list("STEPWISE_WORKSPACE_EXTENSIONS", ["js/oversight/workspace.js"])
# A deployment points every pass that names no backend at its model server by environment alone: with
# STEPWISE_MODEL_BASE_URL set (an OpenAI-compatible server, up to /v1) a backend named `default` exists.
STEPWISE_MODEL_BASE_URL = env_str("STEPWISE_MODEL_BASE_URL")
STEPWISE_MODEL_ID = env_str("STEPWISE_MODEL_ID")
if STEPWISE_MODEL_BASE_URL and not STEPWISE_MODEL_ID:
    raise ImproperlyConfigured("STEPWISE_MODEL_BASE_URL is set but STEPWISE_MODEL_ID is not: name the model the "
                               "server serves (its id in GET /v1/models).")
# Model answers larger than this are refused, never read whole (oversight/client.py).
STEPWISE_MODEL_MAX_RESPONSE_BYTES = env_int("STEPWISE_MODEL_MAX_RESPONSE_BYTES", 1 << 20, minimum=1024)
# Chains per oversight task: one task runs their requests together, so the server stays saturated.
STEPWISE_OVERSIGHT_BATCH = env_int("STEPWISE_OVERSIGHT_BATCH", 50, minimum=1)
# Uploads larger than this are written to a temporary file instead of memory.
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 20 * 1024 * 1024

# Periodic work (`celery -A config beat`, or a worker started with -B): recover import jobs whose
# worker died, re-send undelivered ones, delete old uploads.
CELERY_BEAT_SCHEDULE = {
    "import-jobs-maintain": {"task": "annotation.tasks.import_jobs_maintain_task", "schedule": 30.0},
    # Passes a project runs on import (and on disagreement) start here: annotation never calls oversight.
    "oversight-policies-apply": {"task": "oversight.tasks.oversight_policies_apply_task", "schedule": 30.0},
    # Runs whose worker died (no heartbeat) go back to the queue.
    "oversight-runs-maintain": {"task": "oversight.tasks.oversight_runs_maintain_task", "schedule": 60.0},
    # Stale claims (no save within the project's claim timeout) go back to the queue.
    "assignments-expire": {"task": "annotation.tasks.assignments_expire_task", "schedule": 60.0},
    # Disagreeing chains of projects that escalate get their extra annotator slots (annotation never calls review).
    "review-queues-escalate": {"task": "review.quality_tasks.review_queues_escalate_task", "schedule": 30.0},
}

# The cache carries import heartbeats and progress between worker and web processes: Redis when
# there is one, else files under var/ (the embedded default's web and worker processes share them).
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL,
                          "KEY_PREFIX": "stepwise"}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
                          "LOCATION": str(VAR_DIR / "cache")}}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}
