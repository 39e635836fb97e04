import uuid

import pytest
from django.conf import settings

from collections_portal.common.tasks import health_check_task


@pytest.mark.worker
def test_health_task_runs_in_a_real_worker_against_the_test_database(transactional_db, celery_worker_process):
    token = uuid.uuid4().hex
    result = health_check_task.delay(token).get(timeout=30)

    assert result["token"] == token
    assert result["database"] == settings.DATABASES["default"]["NAME"]
    assert result["postgres"].startswith("PostgreSQL")


def test_celery_is_configured_for_long_tasks():
    from collections_portal.celery import app

    assert app.conf.task_acks_late is True
    assert app.conf.task_reject_on_worker_lost is True
    assert app.conf.worker_prefetch_multiplier == 1
    assert app.conf.broker_transport_options["visibility_timeout"] >= 2 * app.conf.task_time_limit
    assert app.conf.task_always_eager is False
