"""/healthz for nginx, compose and `make up`: can this process reach its stores?"""

from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache

from shared.redis import redis_client


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
