"""OLCS settings: one file, driven by environment variables (see .env.example)."""

import os
import sys
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        return int(value)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be a whole number, got {value!r}") from exc


def env_float(name: str, default: float) -> float:
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        return float(value)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be a number, got {value!r}") from exc


def env_list(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name)
    if value is None:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


# The test runner itself (an environment variable must never stand in for it: it lifts guards).
UNDER_PYTEST = "pytest" in sys.modules
# "TESTING" is the original service's switch; running under pytest implies it.
TESTING = env_bool("TESTING", False) or UNDER_PYTEST
# Production unless told otherwise: development commands (`make run`, the tests' child
# processes) set DEBUG=true themselves. The test runner alone defaults to development.
DEBUG = env_bool("DEBUG", UNDER_PYTEST)

DEV_SECRET_KEY = "django-insecure-olcs-development-only-secret-key-do-not-use"  # noqa: S105 - the known value production refuses
DEV_HMAC_SECRET_KEY = "olcs-development-only-hmac-key-do-not-use"  # noqa: S105
SECRET_KEY = os.environ.get("SECRET_KEY") or DEV_SECRET_KEY
HMAC_SECRET_KEY = os.environ.get("HMAC_SECRET_KEY") or DEV_HMAC_SECRET_KEY


def parse_hmac_keys(value: str) -> dict[int, str]:
    """HMAC_SECRET_KEYS: comma-separated `version:key` pairs, e.g. `1:<old key>,2:<new key>`.

    Versions are whole numbers from 1; the highest is the key new hashes use (docs/privacy.md).
    Error messages name versions and positions, never keys.
    """
    keys: dict[int, str] = {}
    for position, entry in enumerate(value.split(","), start=1):
        version, sep, key = entry.strip().partition(":")
        version, key = version.strip(), key.strip()
        if not (sep and key and version.isascii() and version.isdigit() and int(version) >= 1):
            raise ImproperlyConfigured(
                f"HMAC_SECRET_KEYS: entry {position} is not a version:key pair such as 2:<random key>."
            )
        if int(version) in keys:
            raise ImproperlyConfigured(f"HMAC_SECRET_KEYS: version {int(version)} appears twice.")
        keys[int(version)] = key
    return keys


# The key ring of patrons' keyed hashes, {version: key}. Without HMAC_SECRET_KEYS it is
# HMAC_SECRET_KEY as version 1; with it, HMAC_SECRET_KEY becomes the ring's newest key.
_hmac_keys_from_env = bool(os.environ.get("HMAC_SECRET_KEYS", "").strip())
if _hmac_keys_from_env:
    HMAC_SECRET_KEYS = parse_hmac_keys(os.environ["HMAC_SECRET_KEYS"])
    if os.environ.get("HMAC_SECRET_KEY") and HMAC_SECRET_KEY not in HMAC_SECRET_KEYS.values():
        # Patrons hashed under a key missing from the ring could never be found again.
        raise ImproperlyConfigured(
            "HMAC_SECRET_KEY is not one of the HMAC_SECRET_KEYS: add it to the ring with its version, "
            "or unset HMAC_SECRET_KEY."
        )
    HMAC_SECRET_KEY = HMAC_SECRET_KEYS[max(HMAC_SECRET_KEYS)]
else:
    HMAC_SECRET_KEYS = {1: HMAC_SECRET_KEY}

# Only the test runner itself is exempt: an env var (TESTING) must never disable this guard.
_PRODUCTION_HINT = (
    " (DEBUG is not true, so this is production; for development on the built-in keys set DEBUG=true, "
    "as `make run` does)"
)
if not DEBUG and not UNDER_PYTEST:
    # Refuse to run a production process on a key anyone can read in this repository.
    if SECRET_KEY == DEV_SECRET_KEY or len(SECRET_KEY) < 50:
        raise ImproperlyConfigured(
            "SECRET_KEY must be set to a random value of at least 50 characters" + _PRODUCTION_HINT + "."
        )
    for _version, _key in sorted(HMAC_SECRET_KEYS.items()):
        if _hmac_keys_from_env and (_key == DEV_HMAC_SECRET_KEY or len(_key) < 32):
            raise ImproperlyConfigured(
                f"HMAC_SECRET_KEYS: the key of version {_version} must be a random value of at least "
                "32 characters" + _PRODUCTION_HINT + "."
            )
    if HMAC_SECRET_KEY == DEV_HMAC_SECRET_KEY or len(HMAC_SECRET_KEY) < 32:
        raise ImproperlyConfigured(
            "HMAC_SECRET_KEY must be set to a random value of at least 32 characters" + _PRODUCTION_HINT + "."
        )

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "olcs.apps.OlcsAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_q",
    "tenants",
    "catalog",
    "patrons",
    "ingestion",
    "olcs.console",
]

MIDDLEWARE = [
    "olcs.http.RequestIdMiddleware",
    # Before SecurityMiddleware: a plain-HTTP write gets a JSON 403, never its redirect.
    "olcs.http.HttpsRequiredMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "olcs.http.BodySizeLimitMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "olcs.urls"
WSGI_APPLICATION = "olcs.wsgi.application"
ASGI_APPLICATION = "olcs.asgi.application"
# Paths answer with and without a trailing slash themselves; a redirect would drop POST bodies.
APPEND_SLASH = False

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

# --- Database -------------------------------------------------------------------------

DATABASE_URL = os.environ.get("DATABASE_URL") or f"sqlite:///{BASE_DIR / 'db.sqlite3'}"
SQLITE_BUSY_TIMEOUT_SECONDS = env_int("SQLITE_BUSY_TIMEOUT_SECONDS", 30)
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 60))}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets readers run beside the one writer; IMMEDIATE takes the write lock when a
    # transaction begins, so a read-then-write transaction waits (busy timeout) instead of
    # failing with "database is locked" when it tries to upgrade its lock.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        "timeout": SQLITE_BUSY_TIMEOUT_SECONDS,
        "transaction_mode": "IMMEDIATE",
        "init_command": (
            "PRAGMA journal_mode=WAL;"
            "PRAGMA synchronous=NORMAL;"
            f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_SECONDS * 1000};"
            "PRAGMA foreign_keys=ON;"
        ),
    }
    DATABASES["default"]["TEST"] = {"NAME": os.environ.get("SQLITE_TEST_NAME") or None}
else:
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    # Web requests read a page of rows: starting parallel workers costs more (about 5 ms) than
    # they save. DB_PARALLEL_WORKERS_PER_GATHER gives PostgreSQL its own choice back.
    parallel_workers = env_int("DB_PARALLEL_WORKERS_PER_GATHER", 0)
    pg_options = DATABASES["default"].setdefault("OPTIONS", {})
    pg_options["options"] = (
        f"-c max_parallel_workers_per_gather={parallel_workers} {pg_options.get('options', '')}"
    )

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache (and the shared store of rate limits / throttles when Redis is configured) ---

REDIS_URL = os.environ.get("REDIS_URL", "").strip()
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "olcs",
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
else:
    # Per-process only: nothing that another process needs is kept here (see docs/scaling.md).
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Auth, sessions, security -----------------------------------------------------------

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Messages live in the (database) session, never in a readable cookie.
MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"
LOGIN_URL = "admin:login"
# A login without `next` (the browsable API's, a bookmarked admin login) lands on the admin.
LOGIN_REDIRECT_URL = "admin:index"

# Failed admin sign-ins allowed per username and per client address in a window; the next
# attempt gets a 429 without the password being hashed (olcs/console/sites.py, django-ratelimit on
# the default cache: shared through Redis when REDIS_URL is set, per process otherwise).
ADMIN_LOGIN_FAILURES_PER_USERNAME = env_int("ADMIN_LOGIN_FAILURES_PER_USERNAME", 5)
ADMIN_LOGIN_FAILURES_PER_IP = env_int("ADMIN_LOGIN_FAILURES_PER_IP", 20)
ADMIN_LOGIN_WINDOW_SECONDS = env_int("ADMIN_LOGIN_WINDOW_SECONDS", 900)
# The client's address for that count: REMOTE_ADDR, or a header that the proxy in front sets
# and overwrites (e.g. HTTP_X_REAL_IP); a client-supplied header would let anyone pick theirs.
ADMIN_LOGIN_CLIENT_IP_HEADER = os.environ.get("ADMIN_LOGIN_CLIENT_IP_HEADER", "").strip()

SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SECURE_REDIRECT_EXEMPT = [r"^health/?$"]
# X-Forwarded-Proto says "https" only when a proxy in front sets it and strips the client's own:
# believed only when the operator says so, else any client could claim HTTPS.
TRUST_X_FORWARDED_PROTO = env_bool("TRUST_X_FORWARDED_PROTO", False)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if TRUST_X_FORWARDED_PROTO else None
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
# Development's technical error pages: no setting, header, cookie, body or local variable that
# could hold a secret or personal data (olcs/error_reports.py).
DEFAULT_EXCEPTION_REPORTER = "olcs.error_reports.OlcsExceptionReporter"
DEFAULT_EXCEPTION_REPORTER_FILTER = "olcs.error_reports.OlcsExceptionReporterFilter"
# `Server-Timing: app;dur=<ms>` on every answer: development, and benchmarks that opt in. Off in
# production, where it would time each request for an outsider.
SERVER_TIMING = env_bool("SERVER_TIMING", DEBUG)
SILENCED_SYSTEM_CHECKS = [] if SECURE_HSTS_PRELOAD or DEBUG else ["security.W021"]

# Request bodies: JSON only, bounded. Larger bodies get 413 before they are read.
MAX_REQUEST_BODY_BYTES = env_int("MAX_REQUEST_BODY_BYTES", 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = MAX_REQUEST_BODY_BYTES

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG or TESTING
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
# Development and tests serve static files (the offline Swagger UI, the admin) without collectstatic.
WHITENOISE_USE_FINDERS = DEBUG or TESTING
WHITENOISE_AUTOREFRESH = DEBUG

# --- Catalog ----------------------------------------------------------------------------

# Search ranks a tier of matches (title, then names, then the rest) by relevance when it holds
# at most this many books; a bigger tier is listed newest first (catalog/search.py).
SEARCH_RANK_LIMIT = env_int("SEARCH_RANK_LIMIT", 5000)
# Search answers are cached this long under the library's catalog generation (never stale:
# any change to its books moves the generation on); 0 turns the cache off.
SEARCH_CACHE_SECONDS = env_int("SEARCH_CACHE_SECONDS", 300)

# --- REST API ---------------------------------------------------------------------------

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "tenants.authentication.BearerKeyAuthentication",
        "tenants.authentication.LibrarianSessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": ["olcs.parsers.BoundedJSONParser"],
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "EXCEPTION_HANDLER": "olcs.http.api_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "olcs.schema.OlcsAutoSchema",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    "DATETIME_FORMAT": "iso-8601",
    "COERCE_DECIMAL_TO_STRING": False,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "OLCS API",
    "DESCRIPTION": "Multi-tenant library catalog service. Contract: API.md.",
    "VERSION": None,  # filled from olcs.__version__ in urls
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PUBLIC": True,
    "SERVE_AUTHENTICATION": [],
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {"ServiceStateEnum": ["ok", "unavailable"]},
}

# --- Product settings (API.md "Configuration") -----------------------------------------

RATE_LIMIT_ENABLED = env_bool("RATE_LIMIT_ENABLED", True) and not env_bool("TESTING", False)
API_RATE_LIMIT_REQUESTS = env_int("API_RATE_LIMIT_REQUESTS", 60)
API_RATE_LIMIT_WINDOW_SECONDS = env_int("API_RATE_LIMIT_WINDOW_SECONDS", 60)
INGESTION_RATE_LIMIT_REQUESTS = env_int("INGESTION_RATE_LIMIT_REQUESTS", 10)
INGESTION_RATE_LIMIT_WINDOW_SECONDS = env_int("INGESTION_RATE_LIMIT_WINDOW_SECONDS", 3600)
for _name in (
    "API_RATE_LIMIT_REQUESTS",
    "API_RATE_LIMIT_WINDOW_SECONDS",
    "INGESTION_RATE_LIMIT_REQUESTS",
    "INGESTION_RATE_LIMIT_WINDOW_SECONDS",
):
    if globals()[_name] < 1:
        raise ImproperlyConfigured(f"{_name} must be at least 1, got {globals()[_name]}")
# "sliding": an exact sliding log, never more than the limit in any span of one window;
# "fixed": windows aligned to multiples of the window length (docs/ratelimits.md).
RATE_LIMIT_STRATEGY = os.environ.get("RATE_LIMIT_STRATEGY", "").strip().lower() or "sliding"
if RATE_LIMIT_STRATEGY not in ("sliding", "fixed"):
    raise ImproperlyConfigured(f"RATE_LIMIT_STRATEGY must be sliding or fixed, got {RATE_LIMIT_STRATEGY!r}")
# Socket timeouts of the limiter's Redis calls: a Redis that does not answer costs a request
# at most about this long before the limiter fails open.
RATE_LIMIT_REDIS_TIMEOUT_SECONDS = env_float("RATE_LIMIT_REDIS_TIMEOUT_SECONDS", 0.25)
RE_SYNC_INTERVAL_HOURS = env_int("RE_SYNC_INTERVAL_HOURS", 24)
# The shortest re-sync interval a library may have (each re-sync re-reads its whole catalog
# from Open Library); a shorter one set earlier is raised to it.
RE_SYNC_MIN_INTERVAL_HOURS = env_int("RE_SYNC_MIN_INTERVAL_HOURS", 6)
# Tracked queries per library: every re-sync runs each of them again.
MAX_TRACKED_QUERIES_PER_LIBRARY = env_int("MAX_TRACKED_QUERIES_PER_LIBRARY", 50)
# 0 (the contract's rule): every job counts as one against the ingestion budget. N: a job counts
# as one per N works it asks for, rounded up (docs/decisions/0025-ingestion-budget-and-fair-share.md).
INGESTION_BUDGET_WORKS_PER_JOB = env_int("INGESTION_BUDGET_WORKS_PER_JOB", 0)
# Jobs of one library that run at once; the others wait their turn, so that every library with
# work gets a worker and its share of OPEN_LIBRARY_MAX_RPS. 0: no limit.
INGESTION_MAX_RUNNING_JOBS_PER_LIBRARY = env_int("INGESTION_MAX_RUNNING_JOBS_PER_LIBRARY", 1)
for _name in ("INGESTION_BUDGET_WORKS_PER_JOB", "INGESTION_MAX_RUNNING_JOBS_PER_LIBRARY"):
    if globals()[_name] < 0:
        raise ImproperlyConfigured(f"{_name} must be 0 or more, got {globals()[_name]}")
for _name in ("RE_SYNC_INTERVAL_HOURS", "RE_SYNC_MIN_INTERVAL_HOURS"):
    if globals()[_name] < 1:
        raise ImproperlyConfigured(f"{_name} must be at least 1, got {globals()[_name]}")
INGESTION_DEFAULT_LIMIT = 50
INGESTION_MAX_LIMIT = 1000
# One worker task runs a job for at most this long, then hands over to a fresh task.
INGESTION_SLICE_SECONDS = env_int("INGESTION_SLICE_SECONDS", 120)
# Workers a job may lose (SIGKILL, timeout) before it fails instead of being tried again.
INGESTION_JOB_MAX_ATTEMPTS = env_int("INGESTION_JOB_MAX_ATTEMPTS", 3)
# A running job whose heartbeat is older than this lost its worker (killed, timed out) and is
# resumed by the task's redelivery or the watchdog. It is written after every work, so the bound
# is the longest a single work may take: the task timeout is a safe default.
INGESTION_JOB_STALE_SECONDS = env_int("INGESTION_JOB_STALE_SECONDS", env_int("Q_TIMEOUT_SECONDS", 600) + 30)

OPEN_LIBRARY_BASE_URL = os.environ.get("OPEN_LIBRARY_BASE_URL", "https://openlibrary.org").rstrip("/")


# Catalog records come from here: over plain http anyone on the network path could write them.
# Plain http is allowed in development, under the test runner, and to this machine itself
# (a local fake or caching proxy on loopback, which no one on the network can come between).
def _loopback_http(url: str) -> bool:
    import ipaddress
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.scheme.lower() != "http" or not parts.hostname:
        return False
    if parts.hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(parts.hostname).is_loopback
    except ValueError:
        return False


if (
    not DEBUG
    and not UNDER_PYTEST
    and not OPEN_LIBRARY_BASE_URL.lower().startswith("https://")
    and not _loopback_http(OPEN_LIBRARY_BASE_URL)
):
    raise ImproperlyConfigured(
        f"OPEN_LIBRARY_BASE_URL must be an https:// URL in production, not {OPEN_LIBRARY_BASE_URL!r:.100} "
        "(plain http is allowed only to this machine's loopback, or with DEBUG=true)."
    )
OPEN_LIBRARY_CONTACT = os.environ.get("OPEN_LIBRARY_CONTACT", "")
# One budget for the whole deployment (all workers together), shared through the database or Redis.
OPEN_LIBRARY_MAX_RPS = env_int("OPEN_LIBRARY_MAX_RPS", 3)
OPEN_LIBRARY_TIMEOUT_SECONDS = (
    env_float("OPEN_LIBRARY_CONNECT_TIMEOUT_SECONDS", 5.0),
    env_float("OPEN_LIBRARY_READ_TIMEOUT_SECONDS", 20.0),
)
# Attempts per request in all (first try included), and the longest Retry-After we honour.
OPEN_LIBRARY_MAX_ATTEMPTS = env_int("OPEN_LIBRARY_MAX_ATTEMPTS", 4)
OPEN_LIBRARY_MAX_RETRY_AFTER_SECONDS = env_float("OPEN_LIBRARY_MAX_RETRY_AFTER_SECONDS", 60.0)
OPEN_LIBRARY_BACKOFF_BASE_SECONDS = env_float("OPEN_LIBRARY_BACKOFF_BASE_SECONDS", 0.5)
PUBLIC_BASE_URL = os.environ.get("PUBLIC_BASE_URL", "http://localhost:8000").rstrip("/")

# How old the worker's last heartbeat may be before /health calls it stale.
WORKER_HEARTBEAT_STALE_SECONDS = env_int("WORKER_HEARTBEAT_STALE_SECONDS", 180)
# API keys: last_used_at is written at most this often per key (keeps writes off the hot path).
API_KEY_LAST_USED_RESOLUTION_SECONDS = env_int("API_KEY_LAST_USED_RESOLUTION_SECONDS", 60)

# --- Worker (django-q2) -----------------------------------------------------------------

Q_CLUSTER = {
    "name": "olcs",
    "workers": env_int("Q_WORKERS", 2),
    "recycle": 500,
    # A task may run for `timeout` seconds; the broker re-delivers it after `retry`, which must
    # be longer, or a slow task would be handed to a second worker while the first still runs.
    "timeout": env_int("Q_TIMEOUT_SECONDS", 600),
    "retry": env_int("Q_RETRY_SECONDS", 660),
    "max_attempts": env_int("Q_MAX_ATTEMPTS", 3),
    "ack_failures": True,
    "catch_up": False,
    "save_limit": 1000,
    "label": "Worker",
    "sync": TESTING and env_bool("Q_SYNC", True),
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"

# --- Logging: JSON lines on stderr (stdout stays clean for --json output), with request ids ---------------------------

LOG_LEVEL = os.environ.get("LOG_LEVEL", "INFO").upper()
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "olcs.logs.RequestIdFilter"}},
    "formatters": {"json": {"()": "olcs.logs.JsonFormatter"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stderr",
            "formatter": "json",
            "filters": ["request_id"],
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django": {"handlers": ["console"], "level": LOG_LEVEL, "propagate": False},
        # SQL with parameters would carry patron data into the logs.
        "django.db.backends": {"handlers": ["console"], "level": "INFO", "propagate": False},
        "django-q": {"handlers": ["console"], "level": LOG_LEVEL, "propagate": False},
    },
}

CSRF_FAILURE_VIEW = "olcs.http.csrf_failure"

if UNDER_PYTEST:
    # Tests create many users; full-strength hashing would dominate their runtime.
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
