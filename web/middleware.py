"""Gives every visitor a session with a display name on their first page view, so the sockets
the page opens (which cannot set cookies) find the same name in the session."""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from shared.identity import SESSION_NAME_KEY, guest_name


def ensure_display_name(get_response: Callable[[HttpRequest], HttpResponse]) -> Callable[[HttpRequest], HttpResponse]:
    def middleware(request: HttpRequest) -> HttpResponse:
        if SESSION_NAME_KEY not in request.session and _is_page(request):
            request.session[SESSION_NAME_KEY] = guest_name()
        return get_response(request)

    return middleware


def _is_page(request: HttpRequest) -> bool:
    # Health checks and API scripts should not each create a session row.
    return request.method == "GET" and not request.path.startswith(("/healthz", "/api/", "/admin/"))
