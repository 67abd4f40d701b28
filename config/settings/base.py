"""Settings shared by every environment, read once through django-environ."""

import sys
from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from pyloto.observability.logging import configure_structlog, logging_settings
from pyloto.queues import Queue

BASE_DIR = Path(__file__).resolve().parent.parent.parent
env = environ.Env()
# A .env file beside manage.py is optional; real environment variables win over it.
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

# --- Django core -------------------------------------------------------------------------------
SECRET_KEY = env("DJANGO_SECRET_KEY", default="insecure-local-only-key-change-me")
DEBUG = env.bool("DJANGO_DEBUG", default=False)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]", "testserver"])
ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
LANGUAGE_CODE = "pt-br"
TIME_ZONE = "America/Sao_Paulo"
USE_I18N = True
# The project's own translations (pt-BR first); `make test` and `make run` compile them.
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_TZ = True
# Where `make run` serves (http://127.0.0.1:PORT) and where `manage.py chat` looks for it.
PORT = env.int("PORT", default=8000)
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
# The staff pages (inbox, dashboard) log in here, not through the admin.
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "inbox:queue"
LOGOUT_REDIRECT_URL = "login"

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
    "django_fsm_log",
    "axes",
    "pyloto",
    "conversations",
    "institutional",
    "llm",
    "inbox",
    "evals",
    "dashboard",
]

MIDDLEWARE = [
    # First, so every later log line of the request carries the id (and its own request_finished line).
    "pyloto.observability.middleware.CorrelationIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Serves the admin's static files from gunicorn, so `make run` needs no separate web server.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: it answers a locked-out login with its own response.
    "axes.middleware.AxesMiddleware",
]

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

# --- Database ----------------------------------------------------------------------------------
# No DATABASE_URL means the embedded default: SQLite beside manage.py.
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Celery >= 5.6 closes connections around every task and the web opens one per request without
    # reuse; a psycopg pool per process keeps both cheap (see DESIGN.md).
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": env.int("DB_POOL_MIN_SIZE", default=1),
        "max_size": env.int("DB_POOL_MAX_SIZE", default=8),
        "timeout": env.float("DB_POOL_TIMEOUT_S", default=10.0),
    }
    # With a pool, Django turns this into the pool's `check`: each connection is checked before it is
    # handed out, so after a PostgreSQL restart the pool replaces dead ones instead of failing requests.
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True

# Webhook bodies up to Meta's 3 MB must be readable; larger ones are refused with 413 by the view.
WEBHOOK_MAX_BODY_BYTES = 4 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = WEBHOOK_MAX_BODY_BYTES

# --- Redis, cache and Celery -------------------------------------------------------------------
REDIS_URL = env("REDIS_URL", default="redis://127.0.0.1:6379/0")
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "pyloto",
    }
}

CELERY_BROKER_URL = env("CELERY_BROKER_URL", default=REDIS_URL)
CELERY_RESULT_BACKEND = env("CELERY_RESULT_BACKEND", default=REDIS_URL)
# Embedded mode (no Redis): tasks run in-process. Never in tests: it hides on_commit ordering bugs.
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = Queue.PIPELINE.value
CELERY_RESULT_EXPIRES = 3600
# Task events are three Redis publishes per task (received, started, succeeded) that nobody reads
# unless someone watches: off by default. Flower turns them on in the running workers while it is
# open (its enable_events control); CELERY_WORKER_SEND_TASK_EVENTS=true keeps them on from the start.
CELERY_WORKER_SEND_TASK_EVENTS = env.bool("CELERY_WORKER_SEND_TASK_EVENTS", default=False)
# A task-sent event is one more publish per task, from the webhook and every worker.
# CELERY_TASK_SEND_SENT_EVENT=true brings them back.
CELERY_TASK_SEND_SENT_EVENT = env.bool("CELERY_TASK_SEND_SENT_EVENT", default=False)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Celery's Django fixup closes the database connections around every task and, in a prefork worker,
# the whole psycopg pool, so each task paid a new PostgreSQL backend. A prefork child runs one task at a
# time and may keep its connection for 2 x this many tasks; a connection broken by a database restart is
# closed after the one task that found it broken (pyloto/pipeline/db_connections.py). Threads pools must
# keep handing theirs back after each task: their threads outnumber the pool.
CELERY_DB_REUSE_MAX = env.int("CELERY_DB_REUSE_MAX", default=100 if "prefork" in sys.argv else 0)
# How long a task a worker took but never acknowledged (the worker was killed) stays invisible before
# Redis hands it out again. It must exceed the longest a live worker may hold a task: the longest hard
# time limit (150 s, the sweep) or a countdown plus its limit (a send retry: 60 s + 90 s), else live
# tasks run twice. 300 s is twice that. Recovery does not wait for it: the sweeper reclaims a dead run
# within a lease and re-sends a lost send within SWEEP_REDRIVE_AFTER_S (docs/operations/timeouts.md).
CELERY_VISIBILITY_TIMEOUT_S = 300
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": CELERY_VISIBILITY_TIMEOUT_S}
# Workers ride out a Redis restart: the result backend (chord counters, header results) and task
# publishing (canvas launches, sends after finalize) retry for about 20 s (0 s, 0.5 s, then every 1 s,
# each attempt bounded by a 1 s connect timeout) before failing, covering a restart of 10 s or more.
REDIS_OUTAGE_RETRY_POLICY = {"max_retries": 20, "interval_start": 0, "interval_step": 0.5, "interval_max": 1.0}
# The webhook is the exception: its messages are durable before it enqueues, so it must not hold Meta's
# request through an outage; it gives up at once and the sweeper re-drives (pyloto/pipeline/dispatch.py).
# Status-only webhooks (sent, delivered, read) are read together, once per window (ADR 0022); 0 reads each at once.
STATUS_BATCH_WINDOW_S = env.float("STATUS_BATCH_WINDOW_S", default=1.0)
WEBHOOK_PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.1, "interval_max": 0.2}
CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS = {
    "visibility_timeout": CELERY_VISIBILITY_TIMEOUT_S,
    "retry_policy": REDIS_OUTAGE_RETRY_POLICY,
    "socket_connect_timeout": 1,
}
CELERY_TASK_PUBLISH_RETRY_POLICY = REDIS_OUTAGE_RETRY_POLICY
CELERY_BROKER_CONNECTION_TIMEOUT = 1
# kombu's Redis transport with the fix for the worker crash on a Redis restart (see pyloto/broker.py).
CELERY_BROKER_TRANSPORT = "pyloto.broker:Transport" if CELERY_BROKER_URL.startswith(("redis://", "rediss://")) else None
# A worker whose broker went away keeps reconnecting for as long as it takes, never exits for it.
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
# Tasks running when the broker connection drops finish their work (all are idempotent); cancelling
# them would only redo it. Said explicitly: Celery warns that this default will change.
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = False
# Nothing reads task results except the chord, whose header tasks opt back in (llm/tasks.py); without
# this every publish also subscribes to the task's result channel.
CELERY_TASK_IGNORE_RESULT = True
CELERY_IMPORTS = ["pyloto.pipeline.tasks"]
# Every task declares `route_queue=Queue.X` in its decorator (see pyloto/queues.py).
CELERY_TASK_ROUTES = ("pyloto.queues.route_by_declared_queue",)
# The canvas' error callback also runs for a failed chord header task (Celery's coming default);
# recover_run is idempotent, so being called once per failure is safe.
CELERY_TASK_ALLOW_ERROR_CB_ON_CHORD_HEADER = True
# The loss guards run on the maintenance queue, consumed by the pipeline and the delivery workers: one
# of them dying stops neither. `expires`: a sweep queued behind a dead worker is dropped, not run late.
SWEEP_INTERVAL_S = env.float("SWEEP_INTERVAL_S", default=5.0)
CELERY_BEAT_SCHEDULE: dict = {
    "sweep-pipeline": {
        "task": "pyloto.pipeline.tasks.sweep_pipeline",
        "schedule": SWEEP_INTERVAL_S,
        "options": {"queue": Queue.MAINTENANCE.value, "expires": SWEEP_INTERVAL_S * 2},
    },
    "expire-idle-conversations": {
        "task": "conversations.tasks.expire_idle_conversations",
        "schedule": 300.0,
        "options": {"queue": Queue.MAINTENANCE.value, "expires": 300.0},
    },
}
# The sweeper re-drives an inbound message still unanswered after this long (a lost task, an enqueue
# refused during a Redis outage), and a reply never tried for as long…
SWEEP_REDRIVE_AFTER_S = env.int("SWEEP_REDRIVE_AFTER_S", default=15)
# …and dead-letters it after this long, so every message reaches a terminal state.
SWEEP_DEAD_LETTER_AFTER_S = env.int("SWEEP_DEAD_LETTER_AFTER_S", default=900)

# LGPD retention: raw payloads and message texts older than this many days are blanked daily (counts,
# statuses and times stay). 0 turns the purge off.
DATA_RETENTION_DAYS = env.int("DATA_RETENTION_DAYS", default=365)
CELERY_BEAT_SCHEDULE["purge-expired-data"] = {
    "task": "conversations.tasks.purge_expired_data",
    "schedule": 86400.0,
    # Beside the loss guards on the queue every worker serves; a purge missed by an hour waits for the next day.
    "options": {"queue": Queue.MAINTENANCE.value, "expires": 3600.0},
}

# --- Conversations -----------------------------------------------------------------------------
# A conversation idle this long expires (beat sweep, and lazily on the next message).
SESSION_TTL_HOURS = env.int("SESSION_TTL_HOURS", default=24)
# One pipeline run in flight per conversation. Every process working for a run beats for it every
# quarter lease (pyloto/pipeline/heartbeat.py) and the sweeper renews the lease of a run whose heartbeat
# is alive, so a live run keeps it however slow; a dead run is reclaimed within a lease plus a sweep.
RUN_LEASE_SECONDS = env.int("RUN_LEASE_SECONDS", default=15)
# Bursts (ADR 0017): a message that follows the previous one by less than BURST_QUIET_MS is part of a
# burst, and its run starts once the customer has been quiet that long (a lone message starts at once);
# a message arriving while a run's LLM calls are in flight makes that run's reply obsolete and the run
# starts again with every message, unless its oldest message has already waited BURST_MAX_DELAY_S
# (then it answers what it has; the rest get the next run).
BURST_QUIET_MS = env.int("BURST_QUIET_MS", default=800)
BURST_MAX_DELAY_S = env.float("BURST_MAX_DELAY_S", default=20.0)

# --- WhatsApp Cloud API ------------------------------------------------------------------------
WHATSAPP_APP_SECRET = env("WHATSAPP_APP_SECRET", default="local-app-secret")
WHATSAPP_VERIFY_TOKEN = env("WHATSAPP_VERIFY_TOKEN", default="local-verify-token")
WHATSAPP_ACCESS_TOKEN = env("WHATSAPP_ACCESS_TOKEN", default="local-access-token")
WHATSAPP_PHONE_NUMBER_ID = env("WHATSAPP_PHONE_NUMBER_ID", default="100000000000001")
META_GRAPH_API_URL = "https://graph.facebook.com"
WHATSAPP_API_BASE_URL = env("WHATSAPP_API_BASE_URL", default=META_GRAPH_API_URL)
WHATSAPP_API_VERSION = env("WHATSAPP_API_VERSION", default="v23.0")
WHATSAPP_TIMEOUT_S = env.float("WHATSAPP_TIMEOUT_S", default=10.0)
# Media a customer sends: the largest file we download (Meta's own limit for audio is 16 MB) and how
# long a resolved media URL is reused (Meta's URLs are valid for 5 minutes).
WHATSAPP_MEDIA_MAX_BYTES = env.int("WHATSAPP_MEDIA_MAX_BYTES", default=16 * 1024 * 1024)
WHATSAPP_MEDIA_URL_TTL_S = env.int("WHATSAPP_MEDIA_URL_TTL_S", default=240)
# The WhatsApp Business Account whose message templates are synced; empty: no sync (templates kept by hand).
WHATSAPP_BUSINESS_ACCOUNT_ID = env("WHATSAPP_BUSINESS_ACCOUNT_ID", default="")
# Send pacing (pyloto/resilience/pacing.py): a token bucket per business number (WhatsApp allows about 80/s)…
WHATSAPP_NUMBER_RATE_PER_S = env.float("WHATSAPP_NUMBER_RATE_PER_S", default=80.0)
WHATSAPP_NUMBER_BURST = env.int("WHATSAPP_NUMBER_BURST", default=1)
# …and one per recipient (the pair limit: roughly one message every 6 s, with short bursts).
WHATSAPP_PAIR_INTERVAL_S = env.float("WHATSAPP_PAIR_INTERVAL_S", default=6.0)
WHATSAPP_PAIR_BURST = env.int("WHATSAPP_PAIR_BURST", default=5)
# A send waits in its task for a slot up to this long; a later slot re-queues the send for then.
WHATSAPP_PACING_MAX_WAIT_S = env.float("WHATSAPP_PACING_MAX_WAIT_S", default=5.0)
# Estimated WhatsApp price per billable message, by the customer's country (dialling prefix) and Meta's
# pricing category, in that country's billing currency; a JSON object overrides the whole table. Since
# October 2026 service replies are charged too. "default" prices every other country (USD).
WHATSAPP_PRICES = env.json(
    "WHATSAPP_PRICES",
    default={
        "BR": {
            "prefix": "55",
            "currency": "BRL",
            "service": 0.04,
            "utility": 0.04,
            "authentication": 0.04,
            "marketing": 0.35,
        },
        "default": {
            "currency": "USD",
            "service": 0.008,
            "utility": 0.008,
            "authentication": 0.008,
            "marketing": 0.06,
        },
    },
)
# A message held by WhatsApp's marketing frequency cap (131049) is sent again this many hours later (+ up to 25 %).
WHATSAPP_FREQUENCY_CAP_RETRY_HOURS = env.float("WHATSAPP_FREQUENCY_CAP_RETRY_HOURS", default=6.0)
# A send retries transient Graph errors (429, 5xx, network) this many times, waiting 0.5–1 s, 1–2 s…
# up to SEND_BACKOFF_MAX_S (or the server's Retry-After, within that cap): minutes, so a Graph outage
# of a few minutes delays replies instead of dead-lettering them. Then the sweeper takes over.
SEND_MAX_RETRIES = env.int("SEND_MAX_RETRIES", default=12)
SEND_BACKOFF_MAX_S = env.float("SEND_BACKOFF_MAX_S", default=60.0)
# An ambiguous send (a timeout after the request went out, a worker that died holding the claim) is
# resent when no status webhook confirmed it within this window; Meta posts `sent` within seconds.
SEND_CONFIRM_WINDOW_S = env.float("SEND_CONFIRM_WINDOW_S", default=30.0)
# The longest a live send holds its claim: the HTTP call (connect, write and read, each bounded by
# WHATSAPP_TIMEOUT_S) and the write of its outcome. An older claim's worker died: the send is ambiguous.
SEND_CLAIM_TIMEOUT_S = 3 * WHATSAPP_TIMEOUT_S + 5

# --- LLM ---------------------------------------------------------------------------------------
OPENAI_API_KEY = env("OPENAI_API_KEY", default="")
OPENAI_BASE_URL = env("OPENAI_BASE_URL", default="https://api.openai.com/v1")
LLM_MODEL = env("LLM_MODEL", default="gpt-4o-mini")
LLM_TIMEOUT_S = env.float("LLM_TIMEOUT_S", default=20.0)
# Images: with a vision-capable model here, a customer's image goes to the decision and the reply as an
# image input (at most LLM_VISION_MAX_IMAGES per run, each up to LLM_VISION_MAX_BYTES); empty, the
# prompt only says an image was sent.
LLM_VISION_MODEL = env("LLM_VISION_MODEL", default="")
LLM_VISION_MAX_BYTES = env.int("LLM_VISION_MAX_BYTES", default=5 * 1024 * 1024)
LLM_VISION_MAX_IMAGES = env.int("LLM_VISION_MAX_IMAGES", default=3)
# Voice notes: an OpenAI-compatible /v1/audio/transcriptions endpoint. Empty key and URL reuse the
# OPENAI_* ones; an empty TRANSCRIPTION_MODEL (or no key at all) turns transcription off, and a voice
# note is then answered with a polite request to type.
TRANSCRIPTION_API_KEY = env("TRANSCRIPTION_API_KEY", default="")
TRANSCRIPTION_BASE_URL = env("TRANSCRIPTION_BASE_URL", default="")
TRANSCRIPTION_MODEL = env("TRANSCRIPTION_MODEL", default="whisper-1")
# verbose_json gives the language and duration (whisper-1); gpt-4o-transcribe models need json.
TRANSCRIPTION_RESPONSE_FORMAT = env("TRANSCRIPTION_RESPONSE_FORMAT", default="verbose_json")
TRANSCRIPTION_TIMEOUT_S = env.float("TRANSCRIPTION_TIMEOUT_S", default=30.0)
# USD per minute of audio, for the LLM accounting (whisper-1's list price).
TRANSCRIPTION_PRICE_PER_MINUTE = env.float("TRANSCRIPTION_PRICE_PER_MINUTE", default=0.006)
# Celery-level retries of a transient LLM failure (on top of the SDK's own), before the fallback answers.
LLM_TASK_MAX_RETRIES = env.int("LLM_TASK_MAX_RETRIES", default=2)
# Retries the openai SDK makes itself (429/5xx/timeouts, with backoff) before our task-level retry.
LLM_SDK_MAX_RETRIES = env.int("LLM_SDK_MAX_RETRIES", default=2)
# Per-task model overrides; empty means LLM_MODEL.
LLM_MODEL_DECIDE_STATE = env("LLM_MODEL_DECIDE_STATE", default="")
LLM_MODEL_WRITE_REPLY = env("LLM_MODEL_WRITE_REPLY", default="")
LLM_MODEL_CHOOSE_MESSAGE_TYPE = env("LLM_MODEL_CHOOSE_MESSAGE_TYPE", default="")
LLM_MODEL_JUDGE_REPLY = env("LLM_MODEL_JUDGE_REPLY", default="")
# The policy judge: a further LLM call that reads the final message against the published constraints.
# "off"; "shadow" records its verdict beside the guard's (agreement on the KPIs page); "enforce" also
# blocks what it blocks and fails closed (an error, a timeout or "unsure" becomes the safe text or a handoff).
GUARD_JUDGE_MODE = env.str("GUARD_JUDGE_MODE", default="off")
if GUARD_JUDGE_MODE not in ("off", "shadow", "enforce"):
    raise ImproperlyConfigured(f"GUARD_JUDGE_MODE must be off, shadow or enforce, not {GUARD_JUDGE_MODE!r}")
# Its own time budget per call (seconds), shorter than LLM_TIMEOUT_S: the reply waits for it.
GUARD_JUDGE_TIMEOUT_S = env.float("GUARD_JUDGE_TIMEOUT_S", default=4.0)
# USD per 1M tokens, for the cost estimate on each LLMCall row; a JSON object overrides the whole table.
LLM_PRICES = env.json(
    "LLM_PRICES",
    default={
        "gpt-4o-mini": {"input": 0.15, "output": 0.60},
        "gpt-4o": {"input": 2.50, "output": 10.00},
        "gpt-4.1-nano": {"input": 0.10, "output": 0.40},
        "gpt-4.1-mini": {"input": 0.40, "output": 1.60},
        "gpt-4.1": {"input": 2.00, "output": 8.00},
    },
)

# --- Observability -----------------------------------------------------------------------------
SENTRY_DSN = env("SENTRY_DSN", default="")
SENTRY_RELEASE = env("SENTRY_RELEASE", default="")
SENTRY_TRACES_SAMPLE_RATE = env.float("SENTRY_TRACES_SAMPLE_RATE", default=0.0)
ENVIRONMENT_NAME = env("ENVIRONMENT_NAME", default="local")
# Set in the environment of every process (web, workers) to aggregate metrics across processes;
# prometheus-client reads it at import. See pyloto/observability/metrics.py.
PROMETHEUS_MULTIPROC_DIR = env("PROMETHEUS_MULTIPROC_DIR", default="")
# When set, GET /metrics answers only `Authorization: Bearer <METRICS_TOKEN>` (401 otherwise): the
# scrape runs database queries and shows traffic figures. Empty leaves it open, for local runs.
METRICS_TOKEN = env("METRICS_TOKEN", default="")
# Each /readyz dependency check gives up after this long and reports the dependency as failing.
READINESS_TIMEOUT_S = env.float("READINESS_TIMEOUT_S", default=2.0)
# LOG_FORMAT: "json" (one object per line, production's default) or "console" (readable).
LOG_FORMAT = env("LOG_FORMAT", default="console")
LOG_LEVEL = env("LOG_LEVEL", default="INFO")
# Sentry starts in PylotoConfig.ready() (web and workers alike), once per-environment settings won.
# structlog hands its events to the stdlib; LOGGING's formatter masks and renders them.
configure_structlog()

# --- API ---------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # Past these rates a caller gets 429 with Retry-After (counted in the cache: Redis, shared by all
    # web processes). Anonymous callers are counted per address, signed-in ones per user.
    "DEFAULT_THROTTLE_CLASSES": [
        "rest_framework.throttling.AnonRateThrottle",
        "rest_framework.throttling.UserRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env("API_THROTTLE_ANON", default="60/minute"),
        "user": env("API_THROTTLE_USER", default="600/minute"),
    },
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Pyloto WhatsApp assistant API",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
}

# --- Login lock-out (django-axes) ----------------------------------------------------------------
# A password-guessing loop against one login stops there: after this many wrong passwords in a row
# that username is locked for the cool-off, whatever address the attempts come from. A right
# password before the limit resets the count. `manage.py axes_reset_username NAME` unlocks early.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=50)
AXES_COOLOFF_TIME = timedelta(minutes=env.float("LOGIN_LOCKOUT_MINUTES", default=60.0))
AXES_LOCKOUT_PARAMETERS = ["username"]
AXES_RESET_ON_SUCCESS = True
# By design the lock is per login, not per address: behind the TLS-terminating proxy every request
# can share the proxy's address, and an address lock would then lock everyone out at once.
SILENCED_SYSTEM_CHECKS = ["axes.W006"]
AXES_COOLOFF_MESSAGE = _(
    "Acesso bloqueado: muitas tentativas de login com senha errada. Tente de novo mais tarde ou peça a um "
    "administrador para desbloquear."
)

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# structlog and stdlib records share one handler: JSON lines or console, PII masked last.
LOGGING = logging_settings(json=LOG_FORMAT == "json", level=LOG_LEVEL)

# --- Embedded mode -----------------------------------------------------------------------------
# `make run` sets PYLOTO_EMBEDDED when no Redis answers: tasks run in-process, the cache is local.
EMBEDDED = env.bool("PYLOTO_EMBEDDED", default=False)
if EMBEDDED:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    CELERY_TASK_ALWAYS_EAGER = True
    # In-process tasks run inside the request's on_commit: their failures must not fail the webhook.
    CELERY_TASK_EAGER_PROPAGATES = False
    CELERY_BROKER_URL = "memory://"
    CELERY_BROKER_TRANSPORT = None
    CELERY_RESULT_BACKEND = "cache+memory://"
    # Eager tasks ignore countdowns: a run must not wait for a quiet window nobody would end.
    BURST_QUIET_MS = 0

# --- Resilience --------------------------------------------------------------------------------
# The LLM circuit breaker, shared by every worker through Redis: this many consecutive transient
# failures open it; after the reset timeout one trial call decides whether it closes again.
LLM_BREAKER_FAIL_MAX = env.int("LLM_BREAKER_FAIL_MAX", default=5)
LLM_BREAKER_RESET_TIMEOUT_S = env.float("LLM_BREAKER_RESET_TIMEOUT_S", default=30.0)
# Per-contact sliding window: more inbound messages than this per window are dropped by policy.
# Opt-out (LGPD, Meta policy): a message that is one of these words alone stops the bot for that contact
# (confirmed once, then silence); an opt-in word brings it back. Comma-separated, accents and case ignored.
OPT_OUT_KEYWORDS = env.list("OPT_OUT_KEYWORDS", default=["PARAR", "SAIR", "STOP", "CANCELAR"])
OPT_IN_KEYWORDS = env.list("OPT_IN_KEYWORDS", default=["VOLTAR"])

CONTACT_RATE_LIMIT_MESSAGES = env.int("CONTACT_RATE_LIMIT_MESSAGES", default=20)
CONTACT_RATE_LIMIT_WINDOW_S = env.float("CONTACT_RATE_LIMIT_WINDOW_S", default=60.0)
