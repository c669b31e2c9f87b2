from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache

from shared.redis import redis_client

# What the private page's client needs (web/static/js/private.js reads it via json_script).
PRIVATE_PAGE_CONFIG = {
    "ws_path": "/ws/ping/",
    # A pong later than this counts as lost: far above any real round trip, well under
    # Daphne's 30 s ping timeout so a dead socket shows as lost pings first.
    "lost_after_ms": 5000,
    "intervals_ms": [250, 500, 1000, 2000, 5000],
    "default_interval_ms": 1000,
}


def home(request: HttpRequest) -> HttpResponse:
    return render(request, "web/home.html")


def private(request: HttpRequest) -> HttpResponse:
    return render(request, "web/private.html", {"config": PRIVATE_PAGE_CONFIG})


@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """200 when the database and Redis both answer, 503 otherwise (with which one failed)."""
    checks = {"database": _database_ok(), "redis": _redis_ok()}
    return JsonResponse(checks, status=200 if all(checks.values()) else 503)


def _database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return True
    except Exception:  # noqa: BLE001 - any failure means "not healthy", reported as false
        return False


def _redis_ok() -> bool:
    try:
        return bool(redis_client().ping())
    except Exception:  # noqa: BLE001 - any failure means "not healthy", reported as false
        return False
