"""The pages that need no store: what the app is, and the private delay page."""

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from shared.results import MAX_SAMPLES as SHARE_MAX_SAMPLES
from shared.roundtrip import LOST_AFTER_MS
from web.views.pageconfig import page_config

# What the private page's client needs (web/static/js/private.js reads it via json_script).
PRIVATE_PAGE_CONFIG = page_config(
    "/ws/ping/",
    # A pong later than this counts as lost (shared/roundtrip.py says why 5 s).
    lost_after_ms=LOST_AFTER_MS,
    intervals_ms=[250, 500, 1000, 2000, 5000],
    default_interval_ms=1000,
)


def home(request: HttpRequest) -> HttpResponse:
    return render(request, "web/home.html")


def private(request: HttpRequest) -> HttpResponse:
    context = {
        "config": PRIVATE_PAGE_CONFIG,
        "share_max_samples": SHARE_MAX_SAMPLES,
        "share_ttl_days": settings.RESULT_TTL_DAYS,
    }
    return render(request, "web/private.html", context)
