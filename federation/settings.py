"""Settings for an Accord node: one module, fed by FEDERATION_* variables and the node home.

Embedded defaults need no services (SQLite + a filesystem Celery broker + in-memory channel
layer, all under FEDERATION_HOME). FEDERATION_DATABASE_URL and FEDERATION_REDIS_URL switch to the
production topology of docker-compose.yml. Every bad value stops start-up with a clear message.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from federation import crypto, env, home

BASE_DIR = Path(__file__).resolve().parent.parent
_environ = os.environ

try:
    env.check_names(_environ)
    FEDERATION_HOME = home.default_home(_environ)
    try:
        FEDERATION_CONFIG: home.NodeConfig | None = home.read_config(FEDERATION_HOME)
    except home.NotInitialisedError:
        FEDERATION_CONFIG = None
    _secret = home.load_secret(FEDERATION_HOME, _environ)
    DEBUG = env.get_bool(_environ, "FEDERATION_DEBUG", False)
    LOG_LEVEL = env.get_choice(_environ, "FEDERATION_LOG_LEVEL", "INFO", ("DEBUG", "INFO", "WARNING", "ERROR"))
    FEDERATION_HOST = env.get_str(
        _environ, "FEDERATION_HOST", FEDERATION_CONFIG.host if FEDERATION_CONFIG else "127.0.0.1"
    )
    FEDERATION_PORT = env.get_int(
        _environ, "FEDERATION_PORT", FEDERATION_CONFIG.port if FEDERATION_CONFIG else 8000, low=1, high=65535
    )
    FEDERATION_PUBLIC_URL = (
        env.get_url(_environ, "FEDERATION_PUBLIC_URL", ("http", "https"))
        or (FEDERATION_CONFIG.public_url if FEDERATION_CONFIG else "")
        or f"http://{'127.0.0.1' if FEDERATION_HOST in ('0.0.0.0', '::') else FEDERATION_HOST}:{FEDERATION_PORT}"  # noqa: S104
    ).rstrip("/")
    FEDERATION_FEDERATION_PORT = env.get_int(
        _environ,
        "FEDERATION_FEDERATION_PORT",
        (FEDERATION_CONFIG.federation_port if FEDERATION_CONFIG else None) or (FEDERATION_PORT or 8000) + 1,
        low=1,
        high=65535,
    )
    FEDERATION_SESSION_TTL_SECONDS = env.get_int(_environ, "FEDERATION_SESSION_TTL_SECONDS", 3600, low=60, high=86400)
    FEDERATION_SESSION_HEARTBEAT_SECONDS = env.get_int(
        _environ, "FEDERATION_SESSION_HEARTBEAT_SECONDS", 30, low=1, high=3600
    )
    FEDERATION_STATIC_PEERS = env.get_list(_environ, "FEDERATION_STATIC_PEERS")
    FEDERATION_HANDSHAKE_TIMEOUT_SECONDS = env.get_int(
        _environ, "FEDERATION_HANDSHAKE_TIMEOUT_SECONDS", 10, low=1, high=120
    )
    FEDERATION_HANDSHAKE_RATE_LIMIT = env.get_int(_environ, "FEDERATION_HANDSHAKE_RATE_LIMIT", 30, low=1, high=100000)
    FEDERATION_DNSSD = env.get_bool(_environ, "FEDERATION_DNSSD", False)
    FEDERATION_DNSSD_INTERFACES = env.get_list(_environ, "FEDERATION_DNSSD_INTERFACES")
    _database_url = env.get_url(_environ, "FEDERATION_DATABASE_URL", ("postgres", "postgresql", "sqlite"))
    FEDERATION_REDIS_URL = env.get_url(_environ, "FEDERATION_REDIS_URL", ("redis", "rediss"))
    FEDERATION_WORKER_CONCURRENCY = env.get_int(_environ, "FEDERATION_WORKER_CONCURRENCY", 2, low=1, high=64)
    FEDERATION_HEARTBEAT_SECONDS = env.get_int(_environ, "FEDERATION_HEARTBEAT_SECONDS", 10, low=1, high=3600)
    FEDERATION_ENVELOPE_MAX_BYTES = env.get_int(
        _environ, "FEDERATION_ENVELOPE_MAX_BYTES", 1024 * 1024, low=1024, high=8 * 1024 * 1024
    )
    FEDERATION_ENVELOPE_TTL_SECONDS = env.get_int(_environ, "FEDERATION_ENVELOPE_TTL_SECONDS", 300, low=10, high=3600)
    FEDERATION_DELIVERY_MAX_ATTEMPTS = env.get_int(_environ, "FEDERATION_DELIVERY_MAX_ATTEMPTS", 12, low=1, high=100)
    FEDERATION_DELIVERY_BACKOFF_MS = env.get_int(_environ, "FEDERATION_DELIVERY_BACKOFF_MS", 500, low=10, high=600000)
    FEDERATION_DELIVERY_BACKOFF_MAX_SECONDS = env.get_int(
        _environ, "FEDERATION_DELIVERY_BACKOFF_MAX_SECONDS", 60, low=1, high=86400
    )
    FEDERATION_DELIVERY_LOOPS = env.get_int(
        _environ, "FEDERATION_DELIVERY_LOOPS", 2 if _database_url.startswith("postgres") else 1, low=1, high=16
    )
    _extra_hosts = env.get_list(_environ, "FEDERATION_ALLOWED_HOSTS")
    FEDERATION_TRUST_WINDOW_HOURS = env.get_int(_environ, "FEDERATION_TRUST_WINDOW_HOURS", 24, low=1, high=24 * 90)
    FEDERATION_TRUST_RECOMPUTE_SECONDS = env.get_int(
        _environ, "FEDERATION_TRUST_RECOMPUTE_SECONDS", 60, low=1, high=86400
    )
    FEDERATION_TRUST_MIN_INTERACTIONS = env.get_ints(
        _environ, "FEDERATION_TRUST_MIN_INTERACTIONS", (50, 500, 5000), count=3, low=0, high=10**9
    )
    FEDERATION_BREAKER_WINDOW_MINUTES = env.get_int(
        _environ, "FEDERATION_BREAKER_WINDOW_MINUTES", 60, low=1, high=10080
    )
    FEDERATION_BREAKER_MAX_USD = env.get_int(_environ, "FEDERATION_BREAKER_MAX_USD", 100, low=0, high=10**9)
    FEDERATION_BREAKER_FAILURE_PERCENT = env.get_int(
        _environ, "FEDERATION_BREAKER_FAILURE_PERCENT", 50, low=1, high=100
    )
    FEDERATION_BREAKER_MIN_SAMPLES = env.get_int(_environ, "FEDERATION_BREAKER_MIN_SAMPLES", 20, low=1, high=10**6)
    FEDERATION_BREAKER_COOLDOWN_MINUTES = env.get_int(
        _environ, "FEDERATION_BREAKER_COOLDOWN_MINUTES", 15, low=1, high=10080
    )
except (env.EnvError, home.HomeError) as exc:
    raise ImproperlyConfigured(str(exc)) from exc

if FEDERATION_FEDERATION_PORT == FEDERATION_PORT:
    raise ImproperlyConfigured("the federation port must differ from the web port")
_public_host = FEDERATION_PUBLIC_URL.split("://", 1)[1].split("/", 1)[0].rsplit(":", 1)[0]
FEDERATION_FEDERATION_URL = f"wss://{_public_host}:{FEDERATION_FEDERATION_PORT}/federation/v1"

# Whether `federation init` has run here; commands that need the identity check this.
FEDERATION_INITIALISED = FEDERATION_CONFIG is not None and _secret is not None
FEDERATION_TOPOLOGY = "production" if (_database_url.startswith("postgres") or FEDERATION_REDIS_URL) else "embedded"

# Django's own secret (sessions, CSRF) is derived from the node secret, never equal to it.
# Before `init` there is no node secret: a throwaway key lets `manage.py` commands run.
SECRET_KEY = crypto.derive_subkey(_secret, "django-secret-key").hex() if _secret else secrets.token_hex(32)
FEDERATION_TOKEN_HMAC_KEY = crypto.derive_subkey(_secret or SECRET_KEY.encode(), "api-token")
del _secret

ALLOWED_HOSTS = ["127.0.0.1", "localhost", "[::1]", FEDERATION_HOST, *_extra_hosts]
ALLOWED_HOSTS.append(_public_host)

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "auditlog",
    "federation",
    "compliance",
    "peers",
    "messaging",
    "pii",
    "defence",
    "trust",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "auditlog.middleware.AuditlogMiddleware",
]

ROOT_URLCONF = "federation.urls"
ASGI_APPLICATION = "federation.asgi.application"
WSGI_APPLICATION = None

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

if _database_url.startswith("postgres"):
    DATABASES = {"default": dj_database_url.parse(_database_url, conn_max_age=60, conn_health_checks=True)}
else:
    _sqlite_path = (
        dj_database_url.parse(_database_url)["NAME"] if _database_url else str(FEDERATION_HOME / "db.sqlite3")
    )
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": _sqlite_path,
            "OPTIONS": {
                # WAL lets the web, worker and beat processes read while one writes; IMMEDIATE
                # takes the write lock at BEGIN so the audit chain head is never raced.
                # Checkpoints run in beat's `checkpoint_database` task, never inside a commit:
                # an automatic checkpoint stalls whichever request happens to cross the limit.
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA wal_autocheckpoint=0;",
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
            },
            # A file, not Django's default shared in-memory database, so tests see the same
            # locking (WAL, BEGIN IMMEDIATE, busy timeout) as a running node.
            "TEST": {"NAME": str(FEDERATION_HOME / "test-db.sqlite3")},
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = FEDERATION_HOME / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
WHITENOISE_USE_FINDERS = True  # serve app static files without a collectstatic step

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Strict"
CSRF_COOKIE_SAMESITE = "Strict"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
DATA_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024

# --- REST API ------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "federation.auth.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["federation.permissions.StrictModelPermissions"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "EXCEPTION_HANDLER": "federation.api.errors.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Accord federation node API",
    "DESCRIPTION": "Token-authenticated REST API of an Accord federation node.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- Celery --------------------------------------------------------------------------------
# Embedded mode uses Kombu's filesystem transport: a broker that is just a directory, so the
# worker and beat are real separate processes without any server to install (docs/ARCHITECTURE.md).
FEDERATION_QUEUE = f"accord.{FEDERATION_CONFIG.node_id if FEDERATION_CONFIG else 'uninitialised'}"
if FEDERATION_REDIS_URL:
    CELERY_BROKER_URL = FEDERATION_REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {"visibility_timeout": 3600}
else:
    _broker_dir = FEDERATION_HOME / "broker"
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT = "federation.broker:Transport"  # atomic publishes (federation/broker.py)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),  # else Celery's pidbox files land in the cwd
        "store_processed": False,
        "polling_interval": 0.05,  # the default 1 s would put a second on every delivery
    }
CELERY_TASK_DEFAULT_QUEUE = FEDERATION_QUEUE
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BEAT_SCHEDULE = {
    "worker-heartbeat": {
        "task": "federation.tasks.worker_heartbeat",
        "schedule": float(FEDERATION_HEARTBEAT_SECONDS or 10),
        "options": {"expires": float(FEDERATION_HEARTBEAT_SECONDS or 10)},
    },
    "session-heartbeats": {
        "task": "peers.tasks.heartbeat_sessions",
        "schedule": float(FEDERATION_SESSION_HEARTBEAT_SECONDS or 30),
        "options": {"expires": float(FEDERATION_SESSION_HEARTBEAT_SECONDS or 30)},
    },
    "deliver-due": {  # safety net: retries after backoff, and work a killed worker left behind
        "task": "messaging.tasks.deliver",
        "schedule": 5.0,
        "options": {"expires": 5.0},
    },
    "recompute-pii-calibration": {
        "task": "pii.tasks.recompute_calibration",
        "schedule": 600.0,
        "options": {"expires": 600.0},
    },
    "recompute-defence-calibration": {
        "task": "defence.tasks.recompute_calibration",
        "schedule": 600.0,
        "options": {"expires": 600.0},
    },
    "recompute-trust": {
        "task": "trust.tasks.recompute_trust",
        "schedule": float(FEDERATION_TRUST_RECOMPUTE_SECONDS or 60),
        "options": {"expires": float(FEDERATION_TRUST_RECOMPUTE_SECONDS or 60)},
    },
    "purge-seen-envelopes": {
        "task": "messaging.tasks.purge_seen",
        "schedule": 300.0,
        "options": {"expires": 300.0},
    },
    **(
        {}
        if _database_url.startswith("postgres")
        else {
            "checkpoint-database": {
                "task": "federation.tasks.checkpoint_database",
                "schedule": 1.0,
                "options": {"expires": 1.0},
            }
        }
    ),
    "refresh-manifest": {
        "task": "federation.tasks.refresh_manifest",
        "schedule": 300.0,
        "options": {"expires": 300.0},
    },
}

# Rate-limit counters (handshake floods): per process embedded, shared through Redis otherwise.
if FEDERATION_REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": FEDERATION_REDIS_URL,
            "KEY_PREFIX": FEDERATION_QUEUE,
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Channels ------------------------------------------------------------------------------
if FEDERATION_REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [FEDERATION_REDIS_URL], "prefix": f"{FEDERATION_QUEUE}:"},
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# --- Logging: never secrets; one line per record ----------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"line": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "line"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {"django.db.backends": {"level": "WARNING"}, "httpx": {"level": "WARNING"}},
}

AUDITLOG_INCLUDE_ALL_MODELS = False
AUDITLOG_DISABLE_REMOTE_ADDR = False
