import os
import tempfile

from .base import *  # noqa: F403
from .base import DATABASES, REST_FRAMEWORK, env

DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast logins in tests
MEDIA_ROOT = env.str("MEDIA_ROOT", default="") or tempfile.mkdtemp(prefix="portal-test-media-")
REST_FRAMEWORK = {**REST_FRAMEWORK, "DEFAULT_THROTTLE_CLASSES": []}
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
SESSION_ENGINE = "django.contrib.sessions.backends.db"

# Each pytest run gets its own database and queues, so runs may overlap on one server. A worker
# started by the tests inherits both through PORTAL_TEST_RUN.
RUN_ID = os.environ.setdefault("PORTAL_TEST_RUN", str(os.getpid()))
DATABASES["default"]["TEST"] = {"NAME": f"test_{DATABASES['default']['NAME']}_{RUN_ID}"}
CELERY_QUEUE_PREFIX = f"t{RUN_ID}-"
CELERY_QUEUES_ALL = [f"{CELERY_QUEUE_PREFIX}{q}" for q in ("default", "imaging", "bulk")]
CELERY_TASK_DEFAULT_QUEUE = f"{CELERY_QUEUE_PREFIX}default"
CELERY_TASK_ROUTES = {
    "imaging.*": {"queue": f"{CELERY_QUEUE_PREFIX}imaging"},
    "bulk.*": {"queue": f"{CELERY_QUEUE_PREFIX}bulk"},
}

WHITENOISE_AUTOREFRESH = True
WHITENOISE_USE_FINDERS = True
# Shared with the test worker process through the environment.
IMPORT_SPOOL_DIR = os.environ.setdefault("IMPORT_SPOOL_DIR", tempfile.mkdtemp(prefix="portal-test-imports-"))
