"""Settings for the worker the crash tests kill: its own queues, and a slow object store
(a pause after each stored file) so a SIGKILL lands in the middle of writing derivatives."""

from collections_portal.settings.test import *  # noqa: F403
from collections_portal.settings.test import RUN_ID

IMAGING_STORE_DELAY_SECONDS = 0.5
CELERY_QUEUE_PREFIX = f"t{RUN_ID}-crash-"
CELERY_QUEUES_ALL = [f"{CELERY_QUEUE_PREFIX}{q}" for q in ("default", "imaging", "bulk")]
CELERY_TASK_DEFAULT_QUEUE = f"{CELERY_QUEUE_PREFIX}default"
CELERY_TASK_ROUTES = {"imaging.*": {"queue": f"{CELERY_QUEUE_PREFIX}imaging"}}
