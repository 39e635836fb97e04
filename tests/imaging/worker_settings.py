"""Settings for the worker the crash tests kill: its own queues, a slow object store (a pause
after each stored file) so a SIGKILL lands in the middle of writing derivatives, and the lease
clock scaled down from 30 s / 10 s / 30 s (lease / renewal / beat) so recovery takes seconds."""

import os

from collections_portal.settings.test import *  # noqa: F403
from collections_portal.settings.test import RUN_ID

IMAGING_STORE_DELAY_SECONDS = float(os.environ.get("IMAGING_STORE_DELAY_SECONDS", "0.5"))
IMAGING_LEASE_SECONDS = 5
IMAGING_LEASE_RENEW_SECONDS = 1
# A 5 s lease can lapse once under a loaded CI machine (both cores rendering 24 MP masters while
# the suite runs), which costs an extra attempt, not a duplicate. The three-try limit itself is
# production policy, held by test_reconciler; here it must not turn one lapse into `gave_up`.
IMAGING_MAX_ATTEMPTS = 6
CELERY_QUEUE_PREFIX = f"t{RUN_ID}-crash-"
CELERY_QUEUES_ALL = [f"{CELERY_QUEUE_PREFIX}{q}" for q in ("default", "imaging", "bulk")]
CELERY_TASK_DEFAULT_QUEUE = f"{CELERY_QUEUE_PREFIX}default"
CELERY_TASK_ROUTES = {"imaging.*": {"queue": f"{CELERY_QUEUE_PREFIX}imaging"}}
CELERY_BEAT_SCHEDULE = {
    "imaging-reenqueue-stale": {
        "task": "imaging.image_asset_reenqueue_stale",
        "schedule": 1.0,
        "options": {"queue": CELERY_TASK_DEFAULT_QUEUE, "expires": 1},
    },
}
