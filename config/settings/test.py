"""Test settings: real PostgreSQL and Redis (a separate Redis database), fast password hashing."""

from .base import *  # noqa: F403
from .base import env

DATABASES = {"default": env.db("DATABASE_URL", default="postgres://postgres@127.0.0.1:5432/pyloto")}
DATABASES["default"]["OPTIONS"] = {"pool": {"min_size": 1, "max_size": 8, "timeout": 10.0}}
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
REDIS_URL = env("REDIS_URL", default="redis://127.0.0.1:6379/15")
CACHES["default"]["LOCATION"] = REDIS_URL
CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = REDIS_URL
CELERY_TASK_ALWAYS_EAGER = False
STATIC_ROOT = None  # type: ignore[assignment] # whitenoise serves nothing in tests; no collectstatic directory needed
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
WHATSAPP_APP_SECRET = "test-app-secret"
WHATSAPP_VERIFY_TOKEN = "test-verify-token"
WHATSAPP_ACCESS_TOKEN = "test-access-token"
WHATSAPP_PHONE_NUMBER_ID = "100000000000001"
WHATSAPP_API_BASE_URL = "http://127.0.0.1:9"  # tests that reach Graph point this at a fake server
OPENAI_API_KEY = ""
# Tests send many replies to one customer in a few seconds; the pacing tests set the real pair limit.
WHATSAPP_PAIR_BURST = 1000
# Tests answer each message at once unless they test bursts (tests/e2e/test_bursts.py sets the window).
BURST_QUIET_MS = 0
