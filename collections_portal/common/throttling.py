"""Rate limits with one Redis round trip per request.

DRF's stock throttles keep a list of timestamps per client in the cache: a GET and a SET of a
growing list on every request. A fixed one-minute window counted with INCR is one pipelined
round trip, which matters on the API's hot list endpoint.
"""

import time
from functools import lru_cache

import redis
from django.conf import settings
from rest_framework.throttling import AnonRateThrottle, UserRateThrottle


@lru_cache(maxsize=1)
def _redis() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=1, socket_connect_timeout=1)


class FixedWindowMixin:
    def allow_request(self, request, view):
        if self.rate is None:
            return True
        key = self.get_cache_key(request, view)
        if key is None:
            return True
        window = int(time.time() // self.duration)
        redis_key = f"throttle:{key}:{window}"
        try:
            pipe = _redis().pipeline(transaction=False)
            pipe.incr(redis_key)
            pipe.expire(redis_key, int(self.duration) + 1)
            count, _ = pipe.execute()
        except redis.RedisError:
            return True  # a limiter outage must not take the API down
        self._window_end = (window + 1) * self.duration
        return count <= self.num_requests

    def wait(self):
        return max(0.0, getattr(self, "_window_end", time.time()) - time.time())


class AnonFixedWindowThrottle(FixedWindowMixin, AnonRateThrottle):
    pass


class UserFixedWindowThrottle(FixedWindowMixin, UserRateThrottle):
    pass


class PortalRateThrottle(FixedWindowMixin, UserRateThrottle):
    """One counter per caller: the `anon` rate by address, or the `user` rate by account."""

    def allow_request(self, request, view):
        self.scope = "user" if request.user and request.user.is_authenticated else "anon"
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request, view)
