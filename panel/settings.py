"""The panel's one settings module. Every knob is an environment variable (see
../shared/spec/operations.md); defaults run on SQLite with no other service."""

import ipaddress
import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def _env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        return int(value)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be an integer, not {value!r}") from exc


DEBUG = _env_bool("PANEL_DEBUG", False)

_INSECURE_KEY = "django-insecure-panel-development-key-do-not-use-in-production"
SECRET_KEY = os.environ.get("PANEL_SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("Set PANEL_SECRET_KEY (or PANEL_DEBUG=1 for development).")
    SECRET_KEY = _INSECURE_KEY

ALLOWED_HOSTS = [
    h.strip()
    for h in os.environ.get("PANEL_ALLOWED_HOSTS", "localhost,127.0.0.1").split(",")
    if h.strip()
]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI's assets, served from static/: no CDN
    "django_htmx",
    "template_partials",
    "panel",
    "servers",
    "allocations",
    "monitoring",
]

MIDDLEWARE = [
    # Outermost, so that nothing under /api/ is ever answered in HTML.
    "panel.api.middleware.ApiJsonErrorsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "panel.urls"
WSGI_APPLICATION = "panel.wsgi.application"

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

# --- Database -------------------------------------------------------------------------------
DATABASES = {
    "default": dj_database_url.config(
        default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
        conn_max_age=_env_int("PANEL_DB_CONN_MAX_AGE", 0),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # A stuck lock or a runaway query becomes a clean 503, never an unbounded wait.
    _lock_ms = _env_int("PANEL_DB_LOCK_TIMEOUT_MS", 3000)
    _stmt_ms = _env_int("PANEL_DB_STATEMENT_TIMEOUT_MS", 10000)
    DATABASES["default"].setdefault("OPTIONS", {})
    DATABASES["default"]["OPTIONS"]["options"] = (
        f"-c lock_timeout={_lock_ms} -c statement_timeout={_stmt_ms}"
    )
    DATABASES["default"]["OPTIONS"].setdefault("connect_timeout", 5)
    if _env_bool("PANEL_DB_PREPARED_STATEMENTS", True):
        # Parameters bound by the server, so that psycopg prepares a statement once a
        # connection has run it a few times: PostgreSQL then stops parsing and planning it
        # on every request, which was half its CPU per request (docs/performance.md). Set 0
        # behind a pooler that cannot keep prepared statements (PgBouncer in transaction
        # mode before 1.21).
        DATABASES["default"]["OPTIONS"]["server_side_binding"] = True
        DATABASES["default"]["OPTIONS"]["prepare_threshold"] = 5

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache (rate-limit counters) -------------------------------------------------------------
_cache_url = os.environ.get("PANEL_CACHE_URL", "").strip()
if _cache_url:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": _cache_url,
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Auth and sessions ------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "login"

# --- HTTPS ----------------------------------------------------------------------------------
# The app never redirects to HTTPS itself: a redirect turns API clients' POSTs into GETs.
# The reverse proxy owns that redirect.
HTTPS = _env_bool("PANEL_HTTPS", not DEBUG)
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_HSTS_SECONDS = 31536000 if HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
SECURE_HSTS_PRELOAD = HTTPS
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if HTTPS else None
SECURE_CONTENT_TYPE_NOSNIFF = True
SESSION_COOKIE_HTTPONLY = True
SILENCED_SYSTEM_CHECKS = ["security.W008"]  # SECURE_SSL_REDIRECT: the proxy's job, see above.

# --- I18N and static files -------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

# --- The client API ---------------------------------------------------------------------------
PANEL_API_RATE = os.environ.get("PANEL_API_RATE", "256/min")
PANEL_AUTH_FAILURE_RATE = os.environ.get("PANEL_AUTH_FAILURE_RATE", "30/min")
PANEL_TRUSTED_PROXIES = _env_int("PANEL_TRUSTED_PROXIES", 0)
PANEL_MAX_API_KEYS = 25

# --- Port testing and monitoring (the `monitoring` app) ---------------------------------------
try:
    PANEL_PORT_TEST_TIMEOUT = float(os.environ.get("PANEL_PORT_TEST_TIMEOUT", "").strip() or 2)
except ValueError as exc:
    raise ImproperlyConfigured("PANEL_PORT_TEST_TIMEOUT must be a number of seconds") from exc
PANEL_PORT_TEST_RATE = os.environ.get("PANEL_PORT_TEST_RATE", "10/min")  # per server
PANEL_MONITOR_INTERVAL = _env_int("PANEL_MONITOR_INTERVAL", 60)
PANEL_MONITOR_CONCURRENCY = _env_int("PANEL_MONITOR_CONCURRENCY", 50)
PANEL_MONITOR_RETENTION_DAYS = _env_int("PANEL_MONITOR_RETENTION_DAYS", 14)
# CIDR ranges the port test and the monitor may connect to (comma list); empty: any address.
# The test suite and the benchmark set 127.0.0.1/32.
PANEL_PROBE_ALLOWED_NETWORKS = [
    n.strip() for n in os.environ.get("PANEL_PROBE_ALLOWED_NETWORKS", "").split(",") if n.strip()
]
for _network in PANEL_PROBE_ALLOWED_NETWORKS:
    try:
        ipaddress.ip_network(_network, strict=False)
    except ValueError as exc:
        raise ImproperlyConfigured(f"PANEL_PROBE_ALLOWED_NETWORKS: bad range {_network!r}") from exc

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "panel.api.authentication.ApiKeyAuthentication",
        "panel.api.authentication.CsrfSessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": [],
    "DEFAULT_THROTTLE_CLASSES": [],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [
        "panel.api.parsers.StrictJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "panel.api.negotiation.AlwaysJSON",
    "EXCEPTION_HANDLER": "panel.api.exceptions.api_exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}

# OpenAPI 3 of the client API: /api/schema (JSON) and /api/docs (Swagger UI).
SPECTACULAR_SETTINGS = {
    "TITLE": "Game panel client API",
    "DESCRIPTION": "Pterodactyl-compatible client API. Errors are always "
    '`{"errors": [{"code", "status", "detail"}]}`.',
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PUBLIC": True,
    "SERVE_AUTHENTICATION": [],  # the schema and docs are public: a bad key is not asked about
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "PREPROCESSING_HOOKS": ["panel.api.schema.client_paths"],
    # Enums stay inline where they are used: every envelope's `object` is its own one-value
    # enum, which the default hook would hoist into clashing `ObjectEnum` components.
    "POSTPROCESSING_HOOKS": [],
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {"panel": {"level": "INFO"}},
}
