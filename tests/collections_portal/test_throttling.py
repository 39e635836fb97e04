import uuid

from django.test import RequestFactory
from rest_framework.request import Request

from collections_portal.common.throttling import AnonFixedWindowThrottle


class ThreePerMinute(AnonFixedWindowThrottle):
    rate = "3/minute"
    scope = "test"


def test_fourth_request_in_a_minute_is_refused_through_real_redis():
    address = f"10.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}"
    request = Request(RequestFactory().get("/api/v1/specimens/", REMOTE_ADDR=address))
    request.user = type("Anon", (), {"is_authenticated": False})()
    throttle = ThreePerMinute()

    answers = [throttle.allow_request(request, None) for _ in range(4)]

    assert answers == [True, True, True, False]
    assert 0 < throttle.wait() <= 61


def test_portal_throttle_counts_anonymous_callers_at_the_anon_rate(settings):
    from collections_portal.common.throttling import PortalRateThrottle

    class Limited(PortalRateThrottle):
        THROTTLE_RATES = {"anon": "2/minute", "user": "100/minute"}

    address = f"10.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}"
    request = Request(RequestFactory().get("/", REMOTE_ADDR=address))
    request.user = type("Anon", (), {"is_authenticated": False})()

    assert [Limited().allow_request(request, None) for _ in range(3)] == [True, True, False]
