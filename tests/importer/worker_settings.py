"""Settings for the worker the import crash tests kill: the imaging crash worker's queues with the
bulk tasks routed to it, the lease clock scaled down from 30 s / 10 s / 30 s (lease / renewal /
beat) so recovery takes seconds, and IMPORT_TEST_PAUSE (JSON {stage: seconds} in the environment)
holding each import in a stage long enough to SIGKILL the worker there."""

import json
import os

from tests.imaging.worker_settings import *  # noqa: F403
from tests.imaging.worker_settings import CELERY_QUEUE_PREFIX, CELERY_TASK_DEFAULT_QUEUE

CELERY_TASK_ROUTES = {"imaging.*": {"queue": f"{CELERY_QUEUE_PREFIX}imaging"},
                      "bulk.*": {"queue": f"{CELERY_QUEUE_PREFIX}bulk"}}
IMPORT_LEASE_SECONDS = 5
IMPORT_LEASE_RENEW_SECONDS = 1
IMPORT_TEST_PAUSE = json.loads(os.environ.get("IMPORT_TEST_PAUSE", "{}"))
CELERY_BEAT_SCHEDULE = {
    "imports-reenqueue-stale": {
        "task": "specimens.import_batch_reenqueue_stale",
        "schedule": 1.0,
        "options": {"queue": CELERY_TASK_DEFAULT_QUEUE, "expires": 1},
    },
}
