"""Sign-in lockout: the page a locked-out person sees, and whose address is counted.

django-axes counts failures and decides; these are the two hooks it calls (settings: AXES_*).
"""

import ipaddress
import logging

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

logger = logging.getLogger(__name__)

LOGIN_LOCKED_OUT = "Too many failed sign-in attempts. Try again in {minutes} minutes."


def login_locked_out(
    request: HttpRequest, response: HttpResponse | None, credentials: dict | None
) -> HttpResponse:
    """Our lockout page, 429, for /accounts/login/ and /admin/login/ alike."""
    minutes = round(settings.AXES_COOLOFF_TIME.total_seconds() / 60)
    username = (credentials or {}).get("username") or ""
    address = getattr(request, "axes_ip_address", None)
    logger.warning("Sign-in refused during a lockout: account %r from %s", username, address)
    locked = render(request, "registration/login_locked_out.html",
                    {"message": LOGIN_LOCKED_OUT.format(minutes=minutes)}, status=429)
    locked["Retry-After"] = str(int(settings.AXES_COOLOFF_TIME.total_seconds()))
    return locked


def client_ip_address(request: HttpRequest) -> str | None:
    """The socket's address, or the one our own proxies recorded in X-Forwarded-For.

    Each of TRUSTED_PROXY_COUNT proxies appends the address it received from, so the client is
    that many entries from the right; anything further left was written by the client itself.
    """
    remote = request.META.get("REMOTE_ADDR")
    proxies = settings.TRUSTED_PROXY_COUNT
    header = request.META.get("HTTP_X_FORWARDED_FOR", "")
    forwarded = [a.strip() for a in header.split(",") if a.strip()]
    if proxies <= 0 or not forwarded:
        return remote
    candidate = forwarded[-min(proxies, len(forwarded))]
    try:
        return str(ipaddress.ip_address(candidate))  # the column is an inet: never store junk
    except ValueError:
        return remote
