"""The public board: the page (rendered with the current board, useful before its socket opens)
and the same snapshot as JSON for scripts."""

import logging

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache

from shared.board import MAX_ROWS, Snapshot, read_snapshot
from shared.identity import display_name
from shared.protocol import DELAY_MAX_MS, NAME_MAX_CHARS
from shared.redis import REDIS_DOWN, redis_client
from shared.roundtrip import LOST_AFTER_MS
from web.views.pageconfig import page_config

log = logging.getLogger(__name__)


def current_board() -> Snapshot | None:
    """The board from Redis, or None while Redis is unreachable."""
    try:
        return read_snapshot(redis_client())
    except REDIS_DOWN as error:
        log.warning("public board unavailable: %s", error)
        return None


@never_cache
def public(request: HttpRequest) -> HttpResponse:
    board = current_board()
    snapshot = board.public_json() if board else None
    config = page_config(
        "/ws/public/",
        board=snapshot,
        max_rows=MAX_ROWS,
        report_interval_ms=1000,
        lost_after_ms=LOST_AFTER_MS,
        name=display_name(request.user, request.session),
        signed_in=request.user.is_authenticated,
        # The server's limits, for the page's own checks (never retyped in JS).
        name_max_chars=NAME_MAX_CHARS,
        delay_max_ms=DELAY_MAX_MS,
    )
    rows = snapshot["clients"] if snapshot else []
    return render(request, "web/public.html", {"board": board, "rows": rows, "config": config})


@never_cache
def public_api(request: HttpRequest) -> JsonResponse:
    """GET /api/public/: {clients (first 200, oldest connection first), total, summary, histogram}."""
    board = current_board()
    if board is None:
        return JsonResponse({"error": "the board is unavailable (Redis unreachable)"}, status=503)
    return JsonResponse(board.public_json())
