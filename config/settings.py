"""Settings for the lending platform, read from the environment.

Two configurations share every code path: the embedded default (SQLite in WAL mode and kombu's
filesystem broker, so a laptop runs a real web process and a real Celery worker with no servers)
and production (PostgreSQL and Redis via DATABASE_URL and CELERY_BROKER_URL).
"""

from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from kombu import Queue

from config.env import env_bool, env_float, env_header, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("VAR_DIR", str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env_bool("DEBUG", False)

SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
    # Development only: a fixed, obviously unsafe key so sessions survive restarts.
    SECRET_KEY = "insecure-dev-key-do-not-use-in-production"

# Loopback until the operator names the site's host: a fresh install answers on the machine itself and
# nowhere else (docs/deploy.md).
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

# --- HTTPS (docs/deploy.md) ---------------------------------------------------------------------
# Production is HTTPS-only by default: plain http is redirected, browsers are told to remember it
# (HSTS) and session and CSRF cookies never travel in clear. Each is switchable for a deployment
# whose proxy terminates TLS and handles these itself, and for a laptop on plain http (scripts/run.sh).
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 365 * 24 * 3600)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)
# Behind a TLS-terminating proxy every request arrives as http; the proxy's header says which were
# https. Set only when the proxy always sets (and strips clients' copies of) that header.
SECURE_PROXY_SSL_HEADER = env_header("SECURE_PROXY_SSL_HEADER")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI served locally: /api/docs/ works offline
    "django_filters",
    "accounts",
    "underwriting",
    "loans",
]

MIDDLEWARE = [
    # First, so every answer (redirects, problems, Django's own 404/500 pages) carries a Request-Id and
    # every log line of the request names it (config/request_id.py, docs/api.md).
    "config.request_id.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
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
                "loans.context_processors.demo_status",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'db.sqlite3'}",
        conn_max_age=env_int("CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
_db = DATABASES["default"]
if _db["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web process read while the worker writes; IMMEDIATE takes the write lock at
    # BEGIN so two writers queue on busy_timeout instead of failing with "database is locked".
    _db["CONN_MAX_AGE"] = 0
    _db["OPTIONS"] = {
        # Temporary tables (the import's work tables) in memory with a 64 MB page cache: the demo's
        # first import sorts and joins several times faster than through SQLite's temporary files.
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=30000; "
        "PRAGMA temp_store=MEMORY; PRAGMA cache_size=-65536;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
    }
elif _db["ENGINE"] == "django.db.backends.postgresql":
    # JIT adds over a second to large aggregates and saves nothing on our short queries.
    _db.setdefault("OPTIONS", {})["options"] = "-c jit=off"
    _db.setdefault("TEST", {})["NAME"] = env_str("TEST_DATABASE_NAME") or None

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "home"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]

# --- Celery ---------------------------------------------------------------------------------
# A host name, though the folders below are what the filesystem transport uses: without one kombu warns
# "No hostname was supplied" on every connection.
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL") or "filesystem://localhost/"
CELERY_VISIBILITY_TIMEOUT = env_int("CELERY_VISIBILITY_TIMEOUT", 30)
# Every task is stopped (hard limit; the soft one raises SoftTimeLimitExceeded in it first) before its
# message can become visible again; a longer-running task must be safe to run twice concurrently and
# declare it (`safe_to_run_twice=True` with its own time_limit; tests/config/test_celery.py checks).
CELERY_TASK_TIME_LIMIT = max(CELERY_VISIBILITY_TIMEOUT - 5, 1)
CELERY_TASK_SOFT_TIME_LIMIT = max(CELERY_VISIBILITY_TIMEOUT - 10, 1)
# A retry's countdown waits in the worker unacknowledged: it must end inside the visibility timeout too.
CELERY_RETRY_BACKOFF_MAX = max(CELERY_VISIBILITY_TIMEOUT // 2, 1)
# The broker going away (a Redis restart) is waited out, never fatal: the worker retries the connection
# for ever, at start too; tasks running when the connection drops are cancelled, because their
# unacknowledged messages are delivered again (acks_late) and must not run twice.
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = True
if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker_dir = VAR_DIR / "broker"
    for _folder in ("queue", "processed", "control"):
        (_broker_dir / _folder).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
else:
    # A message whose worker died unacknowledged is delivered again after the visibility timeout, so it
    # is short: seconds, not Redis's default hour. The price is that no task may run that long (it would
    # be delivered a second time while still running): CELERY_TASK_TIME_LIMIT below stops every task
    # first, unless the task is marked safe to run twice at once (docs/reliability.md). The restore
    # sweep runs every few seconds instead of kombu's default 10 x 10 s.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": CELERY_VISIBILITY_TIMEOUT,
        "unacked_restore_interval": 2,
        "unacked_restore_throttle": 1,
    }
# Celery's Django fixup closes every database connection before and after each task unless this is
# set, so each decision paid for a new PostgreSQL backend (a fork, authentication and cold catalog
# caches: about a third of the database's CPU per application). Past this many tasks it still closes
# them; between, config/celery.py applies Django's own rule instead (CONN_MAX_AGE, and a connection
# that failed is dropped), as a web request does.
CELERY_DB_REUSE_MAX = 1_000_000
CELERY_RESULT_BACKEND = env_str("CELERY_RESULT_BACKEND") or None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
# Two queues, two workers (docs/deploy.md): decisions and the rest on the default queue, webhook
# deliveries on their own, so a partner's slow endpoint never makes another partner's decision wait.
# A worker started without -Q consumes both (one worker still does everything, as before).
CELERY_TASK_DEFAULT_QUEUE = "celery"
WEBHOOKS_QUEUE = "webhooks"
# Each queue bound by its own name: a shared routing key would copy every message into both.
CELERY_TASK_QUEUES = tuple(Queue(name, routing_key=name) for name in (CELERY_TASK_DEFAULT_QUEUE, WEBHOOKS_QUEUE))
CELERY_TASK_ROUTES = {"loans.webhooks.tasks.*": {"queue": WEBHOOKS_QUEUE}}
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE: dict = {
    "expire-stale-import-runs": {
        "task": "underwriting.history.tasks.expire_stale_import_runs",
        "schedule": 15 * 60,
    },
    # Webhook retries live in the database (loans.webhooks.models.WebhookDelivery); beat sweeps them.
    "send-webhook-deliveries": {
        "task": "loans.webhooks.tasks.webhook_deliveries_send",
        "schedule": env_int("WEBHOOK_SWEEP_SECONDS", 5),
        "options": {"expires": 30},
    },
    "purge-idempotency-records": {
        "task": "loans.api.tasks.idempotency_records_purge",
        "schedule": 3600,
    },
    # Re-queues decisions left in submitted/deciding (lost message, dead worker, no active model).
    "requeue-stuck-applications": {
        "task": "loans.applications.tasks.requeue_stuck_applications",
        "schedule": 60,
        "options": {"expires": 55},
    },
    "catch-up-decision-summaries": {
        "task": "underwriting.monitoring.tasks.catch_up_decision_summaries",
        "schedule": env_int("DECISION_SUMMARY_SECONDS", 30),
        "options": {"expires": 25},
    },
    "expire-offers": {
        "task": "loans.applications.tasks.expire_offers",
        "schedule": 15 * 60,
    },
}
# How long an application may sit in submitted/deciding before the sweeper re-queues its decision.
APPLICATION_STUCK_SECONDS = env_int("APPLICATION_STUCK_SECONDS", 60)
CELERY_IMPORTS = [
    "underwriting.modeling.worker",  # loads the active model as each worker process starts
    "underwriting.history.tasks",
    "underwriting.monitoring.tasks",
    "loans.applications.tasks",
    "loans.webhooks.tasks",
    "loans.api.tasks",
]

# --- Platform -------------------------------------------------------------------------------
MODEL_STORE = Path(env_str("MODEL_STORE", str(VAR_DIR / "models")))
# How often a process holding the active model re-hashes its artifact files even when no file's size,
# mtime or inode changed (those are checked every 2 s): underwriting/modeling/registry.py.
MODEL_ARTIFACT_VERIFY_SECONDS = env_float("MODEL_ARTIFACT_VERIFY_SECONDS", 60.0)
# Signs the chain of decision records; kept out of the database so a database writer cannot forge it.
# Without it (and DEBUG off) no decision can be made: underwriting.decisions.services refuses to sign.
DECISION_HMAC_KEY = env_str("DECISION_HMAC_KEY") or ("insecure-dev-decision-key" if DEBUG else None)

# --- Partner API (docs/api.md, docs/adr/0005-partner-api.md) ----------------------------------
# Throttle counters must be shared by every web process: Redis when CACHE_URL (or REDIS_URL) is set,
# otherwise a table in the default database (created by accounts' migration 0002), never a
# per-process memory cache.
_cache_url = env_str("CACHE_URL") or env_str("REDIS_URL")
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "api": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": _cache_url}
        if _cache_url
        else {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "api_cache"}
    ),
}
# Requests per key per window ("<n>/<second|minute|hour>").
API_RATE_LIMIT = env_str("API_RATE_LIMIT", "1200/minute")
# Failed authentications (a bad, revoked or expired key) per client address per window; beyond it 429.
# Counted in the same `api` cache, failing open with it.
API_AUTH_FAILURE_RATE = env_str("API_AUTH_FAILURE_RATE", "20/minute")
API_IDEMPOTENCY_TTL_HOURS = env_int("API_IDEMPOTENCY_TTL_HOURS", 24)
# The largest API body accepted (413 beyond): the documented 10,000-transaction batch with the longest
# counterparties is ~3.5 MB. Django's own limit for form and body reads is set to match.
API_MAX_BODY_BYTES = env_int("API_MAX_BODY_BYTES", 8 * 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = API_MAX_BODY_BYTES
# How long a request waits for a concurrent one with the same Idempotency-Key to finish before a 409.
API_IDEMPOTENCY_WAIT_SECONDS = env_float("API_IDEMPOTENCY_WAIT_SECONDS", 5.0)
# How many requests of one web process may wait for a decision (?wait=) at once; beyond that they answer at
# once with the pending application (each waiting request holds a thread for up to 10 s).
API_MAX_WAITING_REQUESTS = env_int("API_MAX_WAITING_REQUESTS", 4)
# Webhook URLs resolving to loopback/private addresses are refused (SSRF) unless this is on: on by
# default only with DEBUG (a laptop's demo receiver), so production is safe without setting it.
WEBHOOK_ALLOW_PRIVATE_URLS = env_bool("WEBHOOK_ALLOW_PRIVATE_URLS", DEBUG)
# The webhook sender's requests in flight: at most this many to any one endpoint (a slow or failing
# endpoint ties up only its own share) and this many in all, per webhooks worker process.
WEBHOOK_ENDPOINT_CONCURRENCY = env_int("WEBHOOK_ENDPOINT_CONCURRENCY", 4)
WEBHOOK_SENDER_THREADS = env_int("WEBHOOK_SENDER_THREADS", 16)
if WEBHOOK_ENDPOINT_CONCURRENCY < 1 or WEBHOOK_SENDER_THREADS < 1:
    raise ImproperlyConfigured("WEBHOOK_ENDPOINT_CONCURRENCY and WEBHOOK_SENDER_THREADS must be at least 1")

# --- Audit (docs/adr/0006-audit-and-monitoring.md) --------------------------------------------
# The review queue: this share of each day's decisions (a fixed sample by HMAC) plus every decision
# whose score is within REVIEW_THRESHOLD_POINTS of its policy's approval cut-off.
REVIEW_SAMPLE_RATE = float(env_str("REVIEW_SAMPLE_RATE", "0.05"))
REVIEW_THRESHOLD_POINTS = env_int("REVIEW_THRESHOLD_POINTS", 10)

# The platform's own web channel is a partner too (docs/domain.md); owners' businesses belong to it.
OWN_CHANNEL_PARTNER = env_str("OWN_CHANNEL_PARTNER", "demo")
OWN_CHANNEL_CURRENCY = env_str("OWN_CHANNEL_CURRENCY", "CNY")
# Whose simulated merchants an owner may claim by id on the history page.
DEMO_MERCHANTS_PARTNER = env_str("DEMO_MERCHANTS_PARTNER", "demo")
# Partners whose disbursement is simulated: accepting an offer pays out at once (ADR 0004). None unless
# configured: a production install never reports money paid out that no bank moved (the run command
# names its demo partner).
SIMULATED_DISBURSEMENT_PARTNERS = env_list("SIMULATED_DISBURSEMENT_PARTNERS", [])

REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "loans.api.schema.ProblemAwareAutoSchema",
    "DEFAULT_AUTHENTICATION_CLASSES": ["loans.api.authentication.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["loans.api.permissions.HasScope"],
    "DEFAULT_THROTTLE_CLASSES": ["loans.api.throttling.ApiKeyRateThrottle"],
    "DEFAULT_RENDERER_CLASSES": ["loans.api.renderers.JSONAndProblemRenderer"],
    "DEFAULT_PARSER_CLASSES": ["loans.api.renderers.StrictJSONParser"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "EXCEPTION_HANDLER": "loans.api.errors.problem_exception_handler",
    # The client's address is REMOTE_ADDR unless this many proxies in front of the app append to
    # X-Forwarded-For (DRF reads the client's entry from the end). 0: the header is not trusted.
    "NUM_PROXIES": env_int("API_NUM_PROXIES", 0),
    "UNAUTHENTICATED_USER": None,
    "COERCE_DECIMAL_TO_STRING": True,
    # \uXXXX escapes: ASCII-only bodies cannot be misread by a client that guesses the charset
    # (application/problem+json carries none).
    "UNICODE_JSON": False,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "310 lending platform: partner API",
    "DESCRIPTION": (
        "Push merchants and transactions, submit applications, read decisions and loans, receive "
        "signed webhooks. Authenticate with `Authorization: Bearer <key>`; every POST needs an "
        "`Idempotency-Key`; errors are RFC 9457 `application/problem+json`. See docs/api.md."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {"WebhookEventTypeEnum": "loans.webhooks.models.WebhookEventType"},
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "loans.api.schema.add_problem_responses",
    ],
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # Each line names the request it belongs to (`-` outside one): the id its answer's Request-Id carries.
    "filters": {"request_id": {"()": "config.request_id.RequestIdFilter"}},
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["request_id"]}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}
