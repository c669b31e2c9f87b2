"""The one settings module of both processes (Gunicorn: web/, Daphne: ws/), read from the environment.

Every variable is listed with its meaning in .env.example. PING_ENV=production makes the
settings strict: no start without a real SECRET_KEY.
"""

import logging
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from shared.env import env_addresses, env_bool, env_float, env_int, env_list, env_str
from shared.errors import start_error_reporting
from shared.layers import channel_layer_settings
from shared.logs import check_log_format, logging_config

BASE_DIR = Path(__file__).resolve().parent.parent

# ---------------------------------------------------------------- environment and secrets
PING_ENV = env_str("PING_ENV", "development")
if PING_ENV not in {"development", "production"}:
    raise ImproperlyConfigured(f"PING_ENV must be 'development' or 'production', not {PING_ENV!r}")
PRODUCTION = PING_ENV == "production"

_DEV_SECRET_KEY = "django-insecure-development-only-key-never-use-in-production"
SECRET_KEY = env_str("SECRET_KEY") or ("" if PRODUCTION else _DEV_SECRET_KEY)
if PRODUCTION and (len(SECRET_KEY) < 50 or SECRET_KEY.startswith("django-insecure")):
    raise ImproperlyConfigured(
        "PING_ENV=production needs SECRET_KEY (or SECRET_KEY_FILE): 50+ random characters, "
        "e.g. python -c 'import secrets; print(secrets.token_urlsafe(50))'"
    )

# Off by default even in development: DEBUG keeps every SQL query in memory, which a
# long-running latency monitor under load cannot afford.
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", [] if PRODUCTION else ["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

# nginx terminates the client connection and says which scheme it used.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
USE_X_FORWARDED_HOST = False
SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", PRODUCTION)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
# nginx sets the security headers for every response (nginx/nginx.conf.template); Django
# adding them again would send each header twice.
SECURE_CONTENT_TYPE_NOSNIFF = False
SECURE_REFERRER_POLICY = None
SECURE_CROSS_ORIGIN_OPENER_POLICY = None

# ---------------------------------------------------------------- applications
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "shared",
    "web",
]

MIDDLEWARE = [
    # First, so they time and tag everything below them (web/middleware.py).
    "web.middleware.count_requests",
    "web.middleware.tag_request",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "web.middleware.ensure_display_name",
    "django.contrib.messages.middleware.MessageMiddleware",
]

ROOT_URLCONF = "web.urls"
WSGI_APPLICATION = "web.wsgi.application"
ASGI_APPLICATION = "ws.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
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

# ---------------------------------------------------------------- accounts (web/views/accounts.py)
LOGIN_URL = "/accounts/login/"
# Signing in is mostly for presence, so that is where a sign-in without `next` lands.
LOGIN_REDIRECT_URL = "/users/"
LOGOUT_REDIRECT_URL = "/"
# Django's recommended four: at least 8 characters, not like the username, not a common
# password, not all digits.
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": f"django.contrib.auth.password_validation.{name}"}
    for name in (
        "UserAttributeSimilarityValidator",
        "MinimumLengthValidator",
        "CommonPasswordValidator",
        "NumericPasswordValidator",
    )
]

# ---------------------------------------------------------------- database
RUN_DIR = Path(env_str("RUN_DIR", str(BASE_DIR / ".run")))
DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{RUN_DIR / 'db.sqlite3'}"),
        # Daphne runs ORM calls in a thread pool: persistent connections would leak there.
        conn_max_age=0,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Gunicorn and two Daphne workers write to one file: WAL lets readers run beside a
    # writer, and IMMEDIATE transactions wait for the lock instead of failing mid-way.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and env_bool("DATABASE_POOL", True):
    # Django's built-in pool (5.1+, psycopg_pool): each process keeps its connections open and
    # lends one per request or database_sync_to_async call instead of connecting every time (a
    # TCP and auth round trip per chat message). conn_max_age stays 0: with a pool, closing a
    # connection returns it. Size it so that every process's max_size together stays below
    # PostgreSQL's max_connections (100 by default); off (DATABASE_POOL=0) behind PgBouncer.
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": 1,
        "max_size": env_int("DATABASE_POOL_MAX_SIZE", 10, minimum=1),
        # A request that finds every connection lent out waits this long, then fails as a
        # database error (chat: 1011, pages: 500) rather than hanging.
        "timeout": env_float("DATABASE_POOL_TIMEOUT", 10.0, minimum=0.1),
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# ---------------------------------------------------------------- Redis and the channel layer
REDIS_URL = env_str("REDIS_URL", "redis://127.0.0.1:6379/0")
# Every key the app writes starts with this, so one Redis can serve several deployments.
REDIS_KEY_PREFIX = env_str("REDIS_KEY_PREFIX", "ping")

# Redis high availability: with sentinels (host:port, comma-separated) every Redis client, the
# channel layer's and the stores' (shared/redis.py), finds the master named
# REDIS_SENTINEL_MASTER through them; REDIS_URL then gives only the database number and password.
# docs/operations.md: set-up.
REDIS_SENTINELS = env_addresses("REDIS_SENTINELS")
REDIS_SENTINEL_MASTER = env_str("REDIS_SENTINEL_MASTER", "ping")

CHANNEL_LAYER = env_str("CHANNEL_LAYER", "redis")
CHANNEL_LAYERS = {
    "default": channel_layer_settings(
        CHANNEL_LAYER, REDIS_URL, REDIS_KEY_PREFIX, REDIS_SENTINELS, REDIS_SENTINEL_MASTER
    )
}

# ---------------------------------------------------------------- liveness of connections
# Every worker refreshes its connections' entries in Redis (board rows, room members,
# presence) each heartbeat; an entry not refreshed for the TTL expires. So a worker killed
# without running disconnect() leaves no ghost after TTL + one heartbeat (40 s at most), and a
# Redis restart is repaired by the next heartbeat.
LIVE_HEARTBEAT_SECONDS = env_float("LIVE_HEARTBEAT_SECONDS", 10.0, minimum=0.1)
LIVE_TTL_SECONDS = env_float("LIVE_TTL_SECONDS", 30.0, minimum=0.3)
if LIVE_TTL_SECONDS < 2 * LIVE_HEARTBEAT_SECONDS:
    raise ImproperlyConfigured("LIVE_TTL_SECONDS must be at least twice LIVE_HEARTBEAT_SECONDS")

# ---------------------------------------------------------------- presence (shared/presence.py)
# Going offline is announced only this long after a user's last socket closes: a reload or a
# move to another page closes one socket and opens the next well within a second, and must not
# flicker offline/online; 3 s also covers a slow reload without making a real leave feel late.
# Coming online is announced at once. A crashed worker's sockets count until LIVE_TTL_SECONDS.
PRESENCE_GRACE_SECONDS = env_float("PRESENCE_GRACE_SECONDS", 3.0)
# How often each worker looks for users whose grace or expiry has passed, so an offline is
# announced at most this late: grace + sweep (3-4 s) after the last tab closes, and at most
# LIVE_TTL_SECONDS + sweep (31 s) after a worker is killed.
PRESENCE_SWEEP_SECONDS = env_float("PRESENCE_SWEEP_SECONDS", 1.0, minimum=0.1)

# ---------------------------------------------------------------- WebSocket limits (docs/protocol.md)
# Frames over this get a `too_large` error and are dropped. The largest honest frame is a
# 2000-character chat message, which JSON-escaped can reach ~12 KB. Frames over Daphne's
# transport cap (WS_TRANSPORT_MAX_BYTES, read by ws/start) are cut off with a 1009 close
# before they are even buffered.
WS_MAX_FRAME_BYTES = env_int("WS_MAX_FRAME_BYTES", 16 * 1024, minimum=256)
WS_TRANSPORT_MAX_BYTES = env_int("WS_TRANSPORT_MAX_BYTES", 64 * 1024, minimum=256)
if WS_MAX_FRAME_BYTES >= WS_TRANSPORT_MAX_BYTES:
    raise ImproperlyConfigured("WS_MAX_FRAME_BYTES must be below WS_TRANSPORT_MAX_BYTES (Daphne's cap)")
# Token bucket per connection: the fastest honest page sends 4 pings a second plus a
# delay report; 30/s sustained and bursts of 60 let any honest client through.
WS_RATE_PER_SECOND = env_float("WS_RATE_PER_SECOND", 30.0, minimum=1.0)
WS_RATE_BURST = env_int("WS_RATE_BURST", 60, minimum=1)
# After `rate_limited`, this many more refused frames in a row close the socket with 4008.
WS_FLOOD_CLOSE_AFTER = env_int("WS_FLOOD_CLOSE_AFTER", 50, minimum=1)
# Bytes a socket may have sent that its peer has not shown it read (by answering the
# server's probe pings), and how long a probe may wait for its answer; past either, the
# socket is closed with 4009 (shared/backlog.py, ws/serve.py). An honest reader owes little
# more than the frame it is reading; the largest is a chat history (50 messages of up to
# ~8 KB each, ~410 KB), so the bound leaves room for that plus what arrives meanwhile.
WS_SEND_BACKLOG_BYTES = env_int("WS_SEND_BACKLOG_BYTES", 512 * 1024, minimum=1024)
WS_SEND_BACKLOG_SECONDS = env_float("WS_SEND_BACKLOG_SECONDS", 10.0, minimum=0.1)
# Sockets one Daphne worker holds at once; past that a handshake gets HTTP 503 (ws/serve.py,
# shared/capacity.py). Two workers at 6000 hold the 10,000 viewers the stack is sized for with
# room to spare; nginx's limit_conn on /ws/ (12000) and the file descriptor limits sit above
# (docs/operations.md, "Capacity").
WS_MAX_SOCKETS = env_int("WS_MAX_SOCKETS", 6000, minimum=1)
# The board's answers compressed with permessage-deflate when the client offers it (ws/serve.py).
WS_PERMESSAGE_DEFLATE = env_bool("WS_PERMESSAGE_DEFLATE", True)

# ---------------------------------------------------------------- shared results (shared/results.py)
# A shared result is kept this long, then deleted (at the next share, or by `prune_results`).
RESULT_TTL_DAYS = env_float("RESULT_TTL_DAYS", 30.0, minimum=0.001)
# Shares per client address per window: enough for anyone sharing by hand, not for a script.
RESULT_SHARES_PER_WINDOW = env_int("RESULT_SHARES_PER_WINDOW", 10, minimum=1)
RESULT_SHARE_WINDOW_SECONDS = env_int("RESULT_SHARE_WINDOW_SECONDS", 600, minimum=1)

# ---------------------------------------------------------------- graceful drain (ws/drain.py)
# On SIGTERM a Daphne worker closes its sockets with 1012 spread evenly over this many seconds,
# so that their reconnects do not all reach the other workers in the same instant. The whole
# stop takes at most this + 6 s (shared/drain.py); supervisor's stopwaitsecs and a pod's
# terminationGracePeriodSeconds must exceed it.
WS_DRAIN_SECONDS = env_float("WS_DRAIN_SECONDS", 2.0)

# ---------------------------------------------------------------- static files, i18n, logging
STATIC_URL = "/static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(RUN_DIR / "static")))
# collectstatic writes hashed, precompressed files (web/storage.py) that nginx serves with a
# year's cache (docs/operations.md). Pages name files through the manifest it writes, so pages
# render only after collectstatic (the stack and the image run it); tests that render pages
# without it switch to the plain storage (tests/conftest.py).
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "web.storage.HashedCompressedStorage"},
}

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

# LOG_FORMAT=json: one JSON object per line, with the socket or request id (shared/logs.py).
LOG_FORMAT = check_log_format(env_str("LOG_FORMAT", "text"))
LOGGING = logging_config(LOG_FORMAT, env_str("LOG_LEVEL", "INFO"))
# Python's warnings go to stderr as text unless routed through logging (then JSON like the rest).
logging.captureWarnings(LOG_FORMAT == "json")

# ---------------------------------------------------------------- error reporting (shared/errors.py)
# Off unless set: exceptions from pages and consumers, and every ERROR log line, go to Sentry.
SENTRY_DSN = env_str("SENTRY_DSN", "")
SENTRY_ENVIRONMENT = env_str("SENTRY_ENVIRONMENT", PING_ENV)
start_error_reporting(SENTRY_DSN, SENTRY_ENVIRONMENT)
