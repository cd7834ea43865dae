"""Settings for every environment, read from environment variables.

First the env file MES_ENV_FILE names is read into the environment (mes/env_file.py;
variables already set win). SECRET_KEY and DATABASE_URL are required: a process
without them refuses, naming both ways to give them (`make run` for a trial, the env
file for a server), and never falls back to a development key or database. DEBUG is
off unless the environment turns it on. HTTPS-only settings have their own switches,
never tied to DEBUG (README, "Configuration").
"""

import ipaddress
import os
import re
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from mes.client_address import trusted_proxies
from mes.env_file import read_env_file
from mes.log_format import configure as configure_logging
from mes.log_format import log_format

BASE_DIR = Path(__file__).resolve().parent.parent

# Before any variable is read: the file's lines fill what the environment leaves unset.
MES_ENV_FILE = read_env_file()


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


def env_list(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name, "").strip()
    return [item.strip() for item in value.split(",") if item.strip()] if value else default


DEBUG = env_bool("DEBUG")

_missing = [name for name in ("SECRET_KEY", "DATABASE_URL") if not os.environ.get(name, "").strip()]
if _missing:
    raise ImproperlyConfigured(
        f"{' and '.join(_missing)} {'is' if len(_missing) == 1 else 'are'} not set"
        + (f" (settings file {MES_ENV_FILE})" if MES_ENV_FILE else "")
        + ". For a trial on this machine, run `make run`: it writes local.env, which "
        "manage.py then reads in this checkout. On a server, name the settings file: "
        "MES_ENV_FILE=/etc/mes/mes.env (see deploy/systemd/mes.env.example)."
    )
SECRET_KEY = os.environ["SECRET_KEY"].strip()

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    # The back office's CSV and XLSX import and export of master data
    # (execution/admin/master_data_tables.py).
    "import_export",
    # The change history of holds, failure dispositions and reason codes, on each one's
    # History page (docs/holds.md "History").
    "simple_history",
    "mes",
    "execution",
    "integration",
]

MIDDLEWARE = [
    # Outermost: every answer gets its request id, its metrics and its one log line.
    "mes.request_log.RequestLogMiddleware",
    # Then Django's own error pages (a disallowed Host, a crash) are JSON under /api/.
    "mes.api.middleware.JsonErrorPagesMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: turns a locked-out sign-in into its page (429).
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "mes.urls"

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

WSGI_APPLICATION = "mes.wsgi.application"
ASGI_APPLICATION = "mes.asgi.application"


# Database: the one DATABASE_URL names (required above), e.g. postgres://mes@127.0.0.1/mes;
# `make run`'s local.env names the checkout's SQLite file.
def database_settings(url: str) -> dict:
    """The settings of the database `url` names, with the options every process uses."""
    database = dj_database_url.parse(
        url,
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 600),
        # Off: Django's `SELECT 1` before each request's first query was a round trip per
        # request. A connection the server closed while idle is dropped before the request
        # without one (mes/idle_connections.py), and Django still checks a connection after
        # an error, at the end of the request that met it (docs/performance.md).
        conn_health_checks=env_bool("DATABASE_HEALTH_CHECKS", False),
    )
    if database["ENGINE"] == "django.db.backends.sqlite3":
        # SQLite must survive a simulator and a person in the admin writing at once:
        # WAL, a busy timeout and IMMEDIATE write transactions make a busy database
        # delay a request instead of failing it (README, "Configuration").
        database["CONN_MAX_AGE"] = 0
        database["OPTIONS"] = {
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
        return database
    options = database.setdefault("OPTIONS", {})
    options.setdefault("connect_timeout", env_int("DATABASE_CONNECT_TIMEOUT", 5))
    # A database host that vanishes without closing the connection (a network cut, a
    # failover) is noticed within about 25 s instead of the kernel's minutes, so no
    # request (nor a group of them, docs/ingestion.md) waits on a dead socket for long.
    # Keepalives cover an idle connection; a statement sent and never acknowledged is
    # retransmitted for about fifteen minutes unless the TCP user timeout ends it
    # (tests/integration/ingestion/test_database_outage.py, cut off mid-conversation).
    for name, value in (
        ("keepalives", 1),
        ("keepalives_idle", 10),
        ("keepalives_interval", 5),
        ("keepalives_count", 3),
        ("tcp_user_timeout", env_int("DATABASE_TCP_USER_TIMEOUT_MS", 25000)),
    ):
        options.setdefault(name, value)
    # Server-side binding lets PostgreSQL prepare the statements that run again
    # and again (the ingestion's): planning took a third of their time
    # (docs/DECISIONS.md). Turn off for a pooler that cannot keep prepared
    # statements (PgBouncer in transaction mode before 1.21).
    if env_bool("DATABASE_PREPARED_STATEMENTS", True):
        options["server_side_binding"] = True
        options["prepare_threshold"] = 5
    return database


DATABASES = {"default": database_settings(os.environ["DATABASE_URL"].strip())}

# `manage.py migrate` (mes/management/commands/migrate.py) connects here instead when set:
# PostgreSQL itself, where DATABASE_URL goes through PgBouncer, which refuses the
# session settings a migration needs (docs/operations.md, "Migrations under traffic").
MIGRATE_DATABASE_URL = os.environ.get("MIGRATE_DATABASE_URL", "").strip()
MIGRATE_DATABASE = database_settings(MIGRATE_DATABASE_URL) if MIGRATE_DATABASE_URL else None
# How long a migration waits for a table's lock before it gives up (0: no limit), so a
# long transaction ahead of it does not make every request queue behind its ALTER TABLE.
MIGRATION_LOCK_TIMEOUT_MS = env_int("MIGRATION_LOCK_TIMEOUT_MS", 5000)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Admin sign-in: django-axes refuses a user from an address after ADMIN_LOGIN_FAILURE_LIMIT
# wrong passwords in a row, for ADMIN_LOGIN_COOLOFF_MINUTES (0: until someone runs
# `manage.py axes_reset_username`, docs/operations.md). Its backend comes first and only
# checks the lockout; gateways' keys never pass through authenticate(), so ingestion is
# never throttled by it.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("ADMIN_LOGIN_FAILURE_LIMIT", 10)
_cooloff_minutes = env_int("ADMIN_LOGIN_COOLOFF_MINUTES", 15)
AXES_COOLOFF_TIME = timedelta(minutes=_cooloff_minutes) if _cooloff_minutes > 0 else None
# The user and the address together: a guesser elsewhere cannot lock a person out.
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_CLIENT_IP_CALLABLE = "mes.client_address.client_address"
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "mes.sign_in_throttling.lockout_response"
AXES_VERBOSE = False  # its start-up banner; failures are logged by mes/sign_in_throttling.py
# The proxies whose X-Forwarded-For is believed (mes/client_address.py); gunicorn.conf.py
# reads the same variable.
TRUSTED_PROXIES = trusted_proxies(os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1"))

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = os.environ.get("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True
# One date-time format in every page of the back office, 2026-11-30 14:03:27 in TIME_ZONE
# (mes/formats/en/formats.py, docs/back-office.md).
FORMAT_MODULE_PATH = ["mes.formats"]

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        # Hashed names need collectstatic first, so they are opt-in (README: production).
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if env_bool("STATIC_MANIFEST")
        else "whitenoise.storage.CompressedStaticFilesStorage"
    },
}
# Serve static files from the app folders when collectstatic has not run
# (first run, tests); production runs collectstatic (README).
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

# Caches: per process by default; a shared cache (Redis) makes throttling
# count across gunicorn workers and app servers.
CACHE_URL = os.environ.get("CACHE_URL", "").strip()
if CACHE_URL.startswith(("redis://", "rediss://", "unix://")):
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": CACHE_URL,
            # A cache that does not answer must not hold requests up: the
            # throttle lets requests through when it cannot count them.
            "OPTIONS": {
                "socket_connect_timeout": env_int("CACHE_CONNECT_TIMEOUT", 2),
                "socket_timeout": env_int("CACHE_TIMEOUT", 2),
            },
        }
    }
elif CACHE_URL:
    raise ImproperlyConfigured(
        f"CACHE_URL must be a redis://, rediss:// or unix:// URL, not {CACHE_URL!r}."
    )
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# Request bodies: the ingestion views read the raw body themselves and apply
# these limits (docs/api.md: 1 MiB single, 16 MiB batch).
INGEST_MAX_BODY_BYTES = env_int("INGEST_MAX_BODY_BYTES", 1024 * 1024)
INGEST_MAX_BATCH_BODY_BYTES = env_int("INGEST_MAX_BATCH_BODY_BYTES", 16 * 1024 * 1024)
INGEST_MAX_JSON_DEPTH = env_int("INGEST_MAX_JSON_DEPTH", 64)
DATA_UPLOAD_MAX_MEMORY_SIZE = max(INGEST_MAX_BODY_BYTES, INGEST_MAX_BATCH_BODY_BYTES)

# Bounded waits of the ingestion (docs/ingestion.md, "When the database fails"):
# an event alone waits at most this long for a row lock, then answers 503;
# a transaction of several events gives up sooner and takes them one by one;
# no statement runs longer than the statement timeout; a single post waits at
# most INGEST_GROUP_WAIT_MS for a group writer before it writes its event alone.
INGEST_LOCK_TIMEOUT_MS = env_int("INGEST_LOCK_TIMEOUT_MS", 1000)
INGEST_GROUP_LOCK_TIMEOUT_MS = env_int("INGEST_GROUP_LOCK_TIMEOUT_MS", 200)
INGEST_STATEMENT_TIMEOUT_MS = env_int("INGEST_STATEMENT_TIMEOUT_MS", 5000)
INGEST_GROUP_WAIT_MS = env_int("INGEST_GROUP_WAIT_MS", 500)

# manage.py prune_messages: DUPLICATE and resolved FAILED messages older than this go
# (docs/growth.md: retention).
MESSAGE_RETENTION_DAYS = env_int("MESSAGE_RETENTION_DAYS", 90)

# Requests per gateway key: "<count>/<s|sec|min|hour|day>" (docs/api.md: 429 THROTTLED).
GATEWAY_THROTTLE_RATE = os.environ.get("GATEWAY_THROTTLE_RATE", "").strip() or "60000/min"
if not re.fullmatch(r"[1-9][0-9]*/(s|sec|second|m|min|minute|h|hour|d|day)", GATEWAY_THROTTLE_RATE):
    raise ImproperlyConfigured(
        f"GATEWAY_THROTTLE_RATE must look like 60000/min or 1000/s, not {GATEWAY_THROTTLE_RATE!r}."
    )

# A gateway key found in the database is taken as found for at most this long by the
# process that found it, so a busy gateway costs one lookup a second per worker, not one per
# request; a key revoked or re-keyed, or its gateway deactivated, is refused everywhere
# within that time (at once by the process that made the change). At most 2000: the
# promise to whoever revokes a key (docs/operations.md, "Gateways, people and permissions").
GATEWAY_KEY_CACHE_MS = env_int("GATEWAY_KEY_CACHE_MS", 1000)
if not 0 <= GATEWAY_KEY_CACHE_MS <= 2000:
    raise ImproperlyConfigured(
        f"GATEWAY_KEY_CACHE_MS must be between 0 and 2000 (a revoked key must stop working "
        f"within 2 s), not {GATEWAY_KEY_CACHE_MS}."
    )

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "integration.gateways.authentication.GatewayKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": ["mes.api.parsers.StrictJSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["mes.api.renderers.EnvelopeJSONRenderer"],
    "DEFAULT_THROTTLE_CLASSES": ["integration.gateways.throttling.GatewayKeyRateThrottle"],
    "DEFAULT_FILTER_BACKENDS": ["mes.api.filtering.StrictFilterBackend"],
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "mes.api.negotiation.FirstRendererFallbackNegotiation",
    "DEFAULT_PAGINATION_CLASS": "mes.api.pagination.EnvelopePagination",
    "EXCEPTION_HANDLER": "mes.api.exceptions.envelope_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "SMT MES device-data API",
    "DESCRIPTION": "Device-data ingestion and review for SMT lines. Envelope: "
    '{"ok": true, "data": …} or {"ok": false, "error": {"code", "message", "details"}}.',
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # One name for each choice set that several fields share (a unit's status beside a
    # message's; AUTO/MANUAL as a source and as a spec's method).
    "ENUM_NAME_OVERRIDES": {
        "UnitStatusEnum": "execution.models.Unit.Status",
        "AutoOrManualEnum": "execution.models.DataSpec.Method",
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "mes.api.schema.envelope_responses",  # the envelope and docs/api.md's error statuses
    ],
}

# HTTPS-only settings, each switched on by its own variable (README: production).
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT")
# Load balancers probe the health checks, and Prometheus scrapes, over plain HTTP
# from inside: a redirect would read as "down".
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$", r"^metrics/database$"]
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS")
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD")
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE")
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE")
if env_bool("SECURE_PROXY_SSL_HEADER"):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# One JSON object per line (LOG_FORMAT=json, the default without DEBUG) or readable
# text (console, `make run`): mes/log_format.py.
try:
    LOG_FORMAT = log_format(DEBUG)
except ValueError as error:
    raise ImproperlyConfigured(str(error)) from error
LOGGING = configure_logging(
    LOG_FORMAT,
    os.environ.get("LOG_LEVEL", "INFO"),
    access_log=bool(os.environ.get("GUNICORN_ACCESS_LOG")),
)
# django-axes says each failure again in prose; mes/sign_in_throttling.py logs it once,
# structured, with the client's address.
LOGGING["loggers"]["axes"] = {"level": "ERROR"}

# /metrics (mes/metrics.py): for a bearer token, or for these addresses and networks
# (e.g. "10.0.0.0/8,127.0.0.1"); with neither, for nobody.
METRICS_ENABLED = env_bool("METRICS_ENABLED", True)
METRICS_TOKEN = os.environ.get("METRICS_TOKEN", "").strip()
try:
    METRICS_ALLOWED_NETWORKS = [
        ipaddress.ip_network(item, strict=False) for item in env_list("METRICS_ALLOWED_IPS", [])
    ]
except ValueError as error:
    raise ImproperlyConfigured(f"METRICS_ALLOWED_IPS: {error}") from error

# Gateway accounts at the MQTT broker (integration/gateways/broker_accounts.py,
# docs/mqtt-broker.md): its dynamic-security admin, e.g. mqtt://admin:pass@127.0.0.1:1883.
# Unset: the MES does not manage the broker (REST only, or a broker managed by hand).
MQTT_ADMIN_URL = os.environ.get("MQTT_ADMIN_URL", "").strip()
MQTT_ADMIN_CA_FILE = (
    os.environ.get("MQTT_ADMIN_CA_FILE", "").strip() or os.environ.get("MQTT_CA_FILE", "").strip()
)
MQTT_ADMIN_TIMEOUT = float(os.environ.get("MQTT_ADMIN_TIMEOUT", "").strip() or 5)

# The History pages show what changed; a hold or disposition is never "reverted" from
# there (docs/holds.md "History"): it changes only through its service.
SIMPLE_HISTORY_REVERT_DISABLED = True
