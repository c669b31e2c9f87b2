"""/users/: every registered user with their online status and last seen, rendered from Redis
so the page is right before its socket opens; the socket keeps it live (web/static/js/users.js)."""

import logging
from datetime import UTC, datetime

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache

from shared.presence import read_statuses, registered_usernames
from shared.protocol import UserStatus
from shared.redis import REDIS_DOWN, redis_client
from web.views.pageconfig import page_config

log = logging.getLogger(__name__)


def current_statuses(usernames: list[str]) -> list[UserStatus] | None:
    """Each user's status, or None while Redis is unreachable (the page says so)."""
    try:
        return read_statuses(
            redis_client(), usernames, ttl=settings.LIVE_TTL_SECONDS, grace=settings.PRESENCE_GRACE_SECONDS
        )
    except REDIS_DOWN as error:
        log.warning("presence unavailable: %s", error)
        return None


@never_cache
@login_required
def users(request: HttpRequest) -> HttpResponse:
    usernames = registered_usernames()
    statuses = current_statuses(usernames)
    config = page_config("/ws/presence/", users=statuses)
    per_user = statuses if statuses is not None else [None] * len(usernames)
    context = {
        "rows": [_row(name, status) for name, status in zip(usernames, per_user, strict=True)],
        "known": statuses is not None,
        "online_count": sum(1 for status in statuses or [] if status["online"]),
        "grace_seconds": f"{settings.PRESENCE_GRACE_SECONDS:g}",
        "config": config,
    }
    return render(request, "web/users.html", context)


def _row(username: str, status: UserStatus | None) -> dict:
    """What the template shows for one user; `online` is None while statuses are unknown."""
    if status is None:
        return {"username": username, "online": None, "seen_at": None}
    seen = status["last_seen"]
    seen_at = datetime.fromtimestamp(seen / 1000, tz=UTC) if seen is not None else None
    return {"username": username, "online": status["online"], "seen_at": seen_at}
