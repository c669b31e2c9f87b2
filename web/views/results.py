"""Shared results: "Share this result" on /private/ posts here; /r/<id>/ and /r/<id>.json show
what was stored (shared/results.py: what is kept, what is not, for how long)."""

import json
import logging
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST, require_safe

from shared.models import SharedResult
from shared.ratelimit import allow_in_window
from shared.redis import REDIS_DOWN, key, redis_client
from shared.results import P99_MIN_SAMPLES, BadUpload, browser_family, new_id, prune_expired, summarize_upload

log = logging.getLogger(__name__)

CHART_WIDTH, CHART_HEIGHT = 600, 180  # the histogram's SVG viewBox


def client_address(request: HttpRequest) -> str:
    """The client's address: nginx replaces X-Forwarded-For with the peer's address (one entry,
    nginx/nginx.conf.template), and Gunicorn is reachable only through nginx."""
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    return forwarded.split(",")[0].strip() or request.META.get("REMOTE_ADDR", "") or "unknown"


def share_allowed(request: HttpRequest) -> bool:
    """RESULT_SHARES_PER_WINDOW per client address per window, counted in Redis by every
    Gunicorn process; while Redis is down shares are let through (and logged)."""
    try:
        return allow_in_window(
            redis_client(),
            key("share", client_address(request)),
            settings.RESULT_SHARES_PER_WINDOW,
            settings.RESULT_SHARE_WINDOW_SECONDS,
        )
    except REDIS_DOWN as error:
        log.warning("share rate limit unavailable (Redis unreachable), letting it through: %s", error)
        return True


@never_cache
@require_POST
def share(request: HttpRequest) -> JsonResponse:
    """POST /r/ with JSON {delays_ms, lost, started_at_ms, ended_at_ms} (shared.results):
    201 {id, url, json_url, expires_at}; 400 {error} for a bad upload; 429 {error} over the limit."""
    if not share_allowed(request):
        response = JsonResponse({"error": "Too many shared results from here; try again in a few minutes."}, status=429)
        response["Retry-After"] = str(settings.RESULT_SHARE_WINDOW_SECONDS)
        return response
    try:
        summary = summarize_upload(json.loads(request.body))
    except (ValueError, UnicodeDecodeError) as error:  # BadUpload, or not JSON at all
        detail = str(error) if isinstance(error, BadUpload) else "the body must be JSON"
        return JsonResponse({"error": detail}, status=400)
    now = timezone.now()
    prune_expired(now)
    fields = {
        **summary.figures(),
        "created_at": now,
        "expires_at": now + timedelta(days=settings.RESULT_TTL_DAYS),
        "server": request.get_host()[:255],
        "browser": browser_family(request.headers.get("User-Agent", "")),
    }
    for _ in range(3):  # a clash of random ids is next to impossible; retry all the same
        try:
            with transaction.atomic():
                result = SharedResult.objects.create(id=new_id(), **fields)
            break
        except IntegrityError:
            continue
    else:
        return JsonResponse({"error": "could not store the result; try again"}, status=503)
    return JsonResponse(
        {
            "id": result.id,
            "url": reverse("result", args=[result.id]),
            "json_url": reverse("result-json", args=[result.id]),
            "expires_at": result.expires_at.isoformat(),
        },
        status=201,
    )


def live_result(result_id: str) -> SharedResult | None:
    return SharedResult.objects.filter(id=result_id, expires_at__gt=timezone.now()).first()


@require_safe
def result_page(request: HttpRequest, result_id: str) -> HttpResponse:
    result = live_result(result_id)
    if result is None:
        context = {"ttl_days": settings.RESULT_TTL_DAYS}
        return render(request, "web/result_missing.html", context, status=404)
    bins = result.histogram
    context = {
        "result": result,
        "bars": histogram_bars(bins),
        "axis": (bins[0][0], bins[-1][1]) if bins else None,
        "duration": duration_text(result.ended_at - result.started_at),
        "p99_min": P99_MIN_SAMPLES,
        "browser": browser_phrase(result.browser),
    }
    return render(request, "web/result.html", context)


@require_safe
def result_json(request: HttpRequest, result_id: str) -> JsonResponse:
    """GET /r/<id>.json: the stored summary (times ISO 8601 UTC, figures in ms)."""
    result = live_result(result_id)
    if result is None:
        return JsonResponse({"error": "no such result (it may have expired)"}, status=404)
    return JsonResponse(result_document(result))


def result_document(result: SharedResult) -> dict:
    return {
        "id": result.id,
        "server": result.server,
        "browser": result.browser,
        "started_at": result.started_at.isoformat(),
        "ended_at": result.ended_at.isoformat(),
        "created_at": result.created_at.isoformat(),
        "expires_at": result.expires_at.isoformat(),
        "samples": result.samples,
        "lost": result.lost,
        "loss_percent": result.loss_percent,
        **{name: getattr(result, name) for name in ("min_ms", "median_ms", "p95_ms", "p99_ms", "max_ms", "jitter_ms")},
        "histogram": {"bins": result.histogram, "beyond": result.beyond},
    }


def browser_phrase(family: str) -> str:
    """ "a Chrome browser", "an Edge browser", "a browser" (for Other)."""
    if family == "Other":
        return "a browser"
    return f"{'an' if family[0] in 'AEIOU' else 'a'} {family} browser"


def duration_text(duration: timedelta) -> str:
    """ "45 s", "12 min 5 s", "2 h 3 min"."""
    seconds = round(duration.total_seconds())
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min {seconds} s" if minutes else f"{seconds} s"


def histogram_bars(bins: list[list[float]]) -> list[dict]:
    """SVG rectangles for the bins (the page's Content-Security-Policy forbids inline styles,
    so the geometry is in attributes): x, y, width, height in the viewBox, and the bin."""
    if not bins:
        return []
    tallest = max(count for _, _, count in bins) or 1
    width = CHART_WIDTH / len(bins)
    bars = []
    for i, (low, high, count) in enumerate(bins):
        height = CHART_HEIGHT * count / tallest
        bars.append(
            {
                "x": round(i * width + width * 0.05, 2),
                "y": round(CHART_HEIGHT - height, 2),
                "width": round(width * 0.9, 2),
                "height": round(height, 2),
                "low": low,
                "high": high,
                "count": count,
            }
        )
    return bars
