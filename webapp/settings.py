"""Frontier settings: one module, read from the environment with safe local defaults.

DATABASE_URL  (default: SQLite under var/, WAL mode)     e.g. postgres://user@host:5432/db
REDIS_URL     (default: kombu filesystem broker under var/; no result store: outcomes are in the rows)
SECRET_KEY    (default: a random key generated once into var/secret_key)
DEBUG         (default: off; DEBUG=true asks for Django's debug pages)
FRONTIER_TLS  (served over HTTPS, directly or behind a TLS proxy: secure cookies, SSL redirect, HSTS;
               each settable alone: SECURE_SSL_REDIRECT, SECURE_HSTS_SECONDS, … see below)
"""
from __future__ import annotations

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("FRONTIER_VAR_DIR", BASE_DIR / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)


def _bool(name: str, default: bool) -> bool:
    v = os.environ.get(name)
    return default if v is None else v.strip().lower() in ("1", "true", "yes", "on")


def _local_secret_key() -> str:
    """The key of this installation, generated on first start into var/secret_key (mode 0600) and
    kept: a real random key, never a fixed default. Several servers sharing sessions set SECRET_KEY."""
    import secrets

    path = VAR_DIR / "secret_key"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        key = path.read_text().strip()
        if len(key) < 50:
            raise ImproperlyConfigured(f"{path} holds no usable key; delete it or set SECRET_KEY") from None
        return key
    key = secrets.token_urlsafe(50)
    with os.fdopen(fd, "w") as fh:
        fh.write(key)
    return key


#: off unless asked for (DEBUG=true): tracebacks and settings are never shown to users by default
DEBUG = _bool("DEBUG", False)
SECRET_KEY = os.environ.get("SECRET_KEY", "") or _local_secret_key()
ALLOWED_HOSTS = [h for h in os.environ.get("ALLOWED_HOSTS", "127.0.0.1,localhost,[::1],testserver").split(",") if h]
CSRF_TRUSTED_ORIGINS = [o for o in os.environ.get("CSRF_TRUSTED_ORIGINS", "").split(",") if o]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "django_celery_results",
    "csp",
    "webapp.apps.FrontierConfig",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # static files from the production server itself (make run's gunicorn): compressed, cached
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "webapp.middleware.RejectNulMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "webapp.middleware.PrivateCacheMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

# Content-Security-Policy (django-csp): scripts only from this site's own files — no inline script, no
# eval (Plotly is its "strict" bundle, Swagger's start-up script a separate file, htmx with allowEval
# off). Inline styles stay allowed: Plotly and htmx set style attributes and Swagger UI carries a
# <style> block; styles cannot run code. blob: workers are the site's own scripts' (Redoc).
from csp.constants import NONE, SELF  # noqa: E402

CONTENT_SECURITY_POLICY = {"DIRECTIVES": {
    "default-src": [SELF], "script-src": [SELF], "style-src": [SELF, "'unsafe-inline'"],
    "img-src": [SELF, "data:", "blob:"], "font-src": [SELF, "data:"], "connect-src": [SELF],
    "media-src": [SELF], "worker-src": [SELF, "blob:"], "object-src": [NONE], "base-uri": [SELF],
    "form-action": [SELF], "frame-ancestors": [NONE],
}}

ROOT_URLCONF = "webapp.urls"
WSGI_APPLICATION = "webapp.wsgi.application"
TEMPLATES = [{
    "BACKEND": "django.template.backends.django.DjangoTemplates",
    "DIRS": [BASE_DIR / "templates"],
    "APP_DIRS": True,
    "OPTIONS": {"context_processors": [
        "django.template.context_processors.request",
        "django.contrib.auth.context_processors.auth",
        "django.contrib.messages.context_processors.messages",
    ]},
}]

_db_url = os.environ.get("DATABASE_URL", "")
if _db_url:
    DATABASES = {"default": dj_database_url.parse(_db_url, conn_max_age=60)}
else:
    DATABASES = {"default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": VAR_DIR / "frontier.sqlite3",
        # The web server and the worker write at the same time: WAL, a busy
        # timeout and IMMEDIATE transactions keep them from failing on locks.
        "OPTIONS": {"timeout": 30, "transaction_mode": "IMMEDIATE",
                    "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"},
        "TEST": {"NAME": VAR_DIR / "test-frontier.sqlite3"},
    }}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "staticfiles"  # filled by collectstatic (manage.py serve runs it)
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # gzip copies made by collectstatic; names stay unhashed so pages render without a manifest (tests)
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
#: until collectstatic has run (manage.py serve runs it), files are served from the source folders;
#: after it, from STATIC_ROOT with their gzip copies (finders' files would shadow those)
WHITENOISE_USE_FINDERS = not any(STATIC_ROOT.iterdir())
MEDIA_URL = "/media/"  # never served as a folder: artifacts and uploads go through views that check access
MEDIA_ROOT = Path(os.environ.get("FRONTIER_MEDIA_ROOT", VAR_DIR / "media"))
UPLOADS_DIR = MEDIA_ROOT / "uploads"
#: saved networks, one folder each (network.json, weights.safetensors, exports made on demand)
NETWORKS_DIR = MEDIA_ROOT / "networks"
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 2**20
DATA_UPLOAD_MAX_MEMORY_SIZE = 12 * 2**20
#: the largest image a user may upload (bytes) and lookup table JSON (bytes)
FRONTIER_MAX_IMAGE_UPLOAD = 10 * 2**20
FRONTIER_MAX_LUT_UPLOAD = 10 * 2**20
#: the largest parallel corpus (.zip / .tar.gz / .tsv) a user may upload (bytes; an archive's text is also bounded
#: once decompressed: engine.data.parallel.MAX_CORPUS_BYTES)
FRONTIER_MAX_CORPUS_UPLOAD = int(os.environ.get("FRONTIER_MAX_CORPUS_UPLOAD", 100 * 2**20))

# The experiment page's plot data, built once per state of an experiment and shared by
# every web process on this machine (files: no server to be down; webapp.views.experiment_plot)
# --- Celery -------------------------------------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_RESULT_BACKEND = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": int(os.environ.get("FRONTIER_VISIBILITY_TIMEOUT", 3600)),
                                       # a launch while Redis is away fails fast; the outbox sends it later
                                       "socket_connect_timeout": 2, "socket_timeout": 10}
else:
    _broker = VAR_DIR / "broker"
    for sub in ("out", "processed", "control"):
        (_broker / sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker / "out"),
        "data_folder_out": str(_broker / "out"),
        "processed_folder": str(_broker / "processed"),
        "control_folder": str(_broker / "control"),
        "store_processed": False,
    }
    CELERY_RESULT_BACKEND = "django-db"
CELERY_TASK_ACKS_LATE = True
#: a job's outcome lives in its Experiment row; no result store is written or subscribed to
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = int(os.environ.get("FRONTIER_TASK_SOFT_TIME_LIMIT", 6 * 3600))
CELERY_TASK_TIME_LIMIT = int(os.environ.get("FRONTIER_TASK_TIME_LIMIT", 6 * 3600 + 300))
CELERY_TASK_DEFAULT_QUEUE = "frontier"
CELERY_TASK_ALWAYS_EAGER = _bool("FRONTIER_EAGER", False)
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
#: a running experiment whose heartbeat is older than this is taken as orphaned
FRONTIER_HEARTBEAT_STALE_S = int(os.environ.get("FRONTIER_HEARTBEAT_STALE_S", 60))
#: how many times a job is run in all when its worker dies under it (the first
#: run counts): after that it is failed with the reason
FRONTIER_MAX_ATTEMPTS = int(os.environ.get("FRONTIER_MAX_ATTEMPTS", 3))
if not 1 <= FRONTIER_MAX_ATTEMPTS <= 20:
    raise ImproperlyConfigured("FRONTIER_MAX_ATTEMPTS must be 1..20")
#: the reconciler's period (seconds): it sends what the broker never got or lost,
#: and re-queues or fails what a dead worker left running (0 = off in this process)
FRONTIER_RECONCILE_S = float(os.environ.get("FRONTIER_RECONCILE_S", 10))
if not (FRONTIER_RECONCILE_S == 0 or 0.2 <= FRONTIER_RECONCILE_S <= 3600):
    raise ImproperlyConfigured("FRONTIER_RECONCILE_S must be 0 (off) or 0.2..3600")
# Sending to the broker: a short connection timeout and two quick retries, so a
# launch while the broker is down answers at once ("queued: waiting for the broker")
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.3, "interval_max": 0.5}

# --- accounts -------------------------------------------------------------
# every password check passes the sign-in throttle (the login page, the admin's, the API token)
AUTHENTICATION_BACKENDS = ["webapp.backends.ThrottledModelBackend"]
#: how many reverse proxies of yours stand in front and append the client to X-Forwarded-For
#: (0, the default: none, and the header is ignored; FRONTIER_BEHIND_TLS_PROXY=true implies 1)
FRONTIER_TRUSTED_PROXIES = int(os.environ.get("FRONTIER_TRUSTED_PROXIES",
                                              1 if _bool("FRONTIER_BEHIND_TLS_PROXY", False) else 0))
if not 0 <= FRONTIER_TRUSTED_PROXIES <= 5:
    raise ImproperlyConfigured("FRONTIER_TRUSTED_PROXIES must be 0..5")
#: wrong passwords (per user name, and per client address) before sign-in is refused for a while
FRONTIER_LOGIN_MAX_FAILURES = int(os.environ.get("FRONTIER_LOGIN_MAX_FAILURES", 10))
FRONTIER_LOGIN_LOCKOUT_S = int(os.environ.get("FRONTIER_LOGIN_LOCKOUT_S", 15 * 60))
#: an API token older than this is refused (a new one from POST /api/token/ or the account page)
FRONTIER_TOKEN_TTL_DAYS = int(os.environ.get("FRONTIER_TOKEN_TTL_DAYS", 30))
# The throttle counters live in Django's cache: in-process by default (make run serves from one
# process with threads); several server processes share one with FRONTIER_CACHE_URL=redis://…
_cache_url = os.environ.get("FRONTIER_CACHE_URL", "")
CACHES = {"default": ({"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": _cache_url}
                      if _cache_url else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache",
                                          "LOCATION": "frontier"}),
          # the experiment page's plot data, built once per state of an experiment (webapp.plots)
          "plots": {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
                    "LOCATION": VAR_DIR / "cache" / "plots", "TIMEOUT": 3600, "OPTIONS": {"MAX_ENTRIES": 300}}}

# --- REST framework -----------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "webapp.api.auth.ExpiringTokenAuthentication",
    ],
    "DEFAULT_THROTTLE_RATES": {"token": os.environ.get("FRONTIER_TOKEN_RATE", "20/min")},
    # the client of DRF's throttles is REMOTE_ADDR, or the one the trusted proxies appended to
    # X-Forwarded-For (None would key on the whole header, which a client writes: a bypass)
    "NUM_PROXIES": FRONTIER_TRUSTED_PROXIES,
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "webapp.api.pagination.BoundedLimitOffsetPagination",
    "DEFAULT_PARSER_CLASSES": ["webapp.api.parsers.SafeJSONParser", "rest_framework.parsers.FormParser",
                               "rest_framework.parsers.MultiPartParser"],
    "PAGE_SIZE": 100,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "webapp.api.errors.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Frontier API",
    "DESCRIPTION": "Hardware-aware design-space exploration of efficient neural networks.",
    "VERSION": "1.0.0",
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
# --- HTTPS ---------------------------------------------------------------
# `make run` serves plain HTTP on loopback. Behind TLS (FRONTIER_TLS=true, e.g. nginx or a load balancer
# terminating TLS and setting X-Forwarded-Proto: FRONTIER_BEHIND_TLS_PROXY=true), cookies are secure,
# plain HTTP is redirected and HSTS is sent; `manage.py check --deploy` is then clean.
_tls = _bool("FRONTIER_TLS", False)
SESSION_COOKIE_SECURE = _bool("SESSION_COOKIE_SECURE", _tls)
CSRF_COOKIE_SECURE = _bool("CSRF_COOKIE_SECURE", _tls)
SECURE_SSL_REDIRECT = _bool("SECURE_SSL_REDIRECT", _tls)
SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", 31536000 if _tls else 0))
SECURE_HSTS_INCLUDE_SUBDOMAINS = _bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", _tls)
# preloading is a promise to browsers' built-in lists that is slow to undo: only when asked for
SECURE_HSTS_PRELOAD = _bool("SECURE_HSTS_PRELOAD", False)
# W021 ("SECURE_HSTS_PRELOAD is not True") is that choice, not an oversight
SILENCED_SYSTEM_CHECKS = [] if SECURE_HSTS_PRELOAD else ["security.W021"]
FRONTIER_BEHIND_TLS_PROXY = _bool("FRONTIER_BEHIND_TLS_PROXY", False)
if FRONTIER_BEHIND_TLS_PROXY:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True

STATICFILES_FINDERS = [
    "django.contrib.staticfiles.finders.FileSystemFinder",
    "django.contrib.staticfiles.finders.AppDirectoriesFinder",
]
#: the largest safetensors weights file a user may upload (bytes)
FRONTIER_MAX_WEIGHTS_UPLOAD = 200 * 2**20
