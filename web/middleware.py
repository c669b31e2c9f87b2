"""Request-wide concerns of the pages: request ids and metrics, and a display name.

ensure_display_name gives every visitor a session with a display name on their first page view, so the sockets
the page opens (which cannot set cookies) find the same name in the session."""

import time
from collections.abc import Callable

from django.core.signals import request_finished
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse

from shared import metrics
from shared.identity import SESSION_NAME_KEY, guest_name
from shared.logs import REQUEST_ID, request_id_from

# Methods counted under their own name; anything else is "other", so no client can add series.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def ensure_display_name(get_response: Callable[[HttpRequest], HttpResponse]) -> Callable[[HttpRequest], HttpResponse]:
    def middleware(request: HttpRequest) -> HttpResponse:
        if SESSION_NAME_KEY not in request.session and _is_page(request):
            request.session[SESSION_NAME_KEY] = guest_name()
        return get_response(request)

    return middleware


def _is_page(request: HttpRequest) -> bool:
    # Health checks and API scripts should not each create a session row.
    return request.method == "GET" and not request.path.startswith(("/healthz", "/api/", "/admin/"))


def tag_request(get_response: Callable[[HttpRequest], HttpResponse]) -> Callable[[HttpRequest], HttpResponse]:
    """Every log line written while answering carries the request's id (shared/logs.py), and the
    response says it (X-Request-ID, which Gunicorn's JSON access line picks up). nginx sends its
    own $request_id, so nginx's, Gunicorn's and the app's lines for one request share it.

    The id stays set until the response is closed (`forget_request_id`), so Django's own line
    about an error response, written after the middleware returns, carries it too."""

    def middleware(request: HttpRequest) -> HttpResponse:
        request_id = request_id_from(request.headers.get("X-Request-ID"))
        REQUEST_ID.set(request_id)
        response = get_response(request)
        response["X-Request-ID"] = request_id
        return response

    return middleware


@receiver(request_finished)
def forget_request_id(**kwargs) -> None:
    """The response is closed (after Gunicorn's access line): the thread's next log lines are not this request's."""
    REQUEST_ID.set(None)


def count_requests(get_response: Callable[[HttpRequest], HttpResponse]) -> Callable[[HttpRequest], HttpResponse]:
    """Counts and times each page request by method, URL route and status (shared/metrics.py)."""

    def middleware(request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = get_response(request)
        method = request.method if request.method in _METHODS else "other"
        match = request.resolver_match
        view = "/" + match.route if match is not None else "unmatched"
        metrics.HTTP_SECONDS.labels(method, view).observe(time.perf_counter() - started)
        metrics.HTTP_REQUESTS.labels(method, view, str(response.status_code)).inc()
        return response

    return middleware
