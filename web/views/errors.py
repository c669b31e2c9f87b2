"""The site's own error pages (400, 403, 404, 500), with the site's navigation and styling.

Django calls these only with DEBUG off (web/urls.py names them). A miss under /chat/ says what a
room name may be and, when lower-casing the name would make it one (/chat/Lobby/), links there.
"""

from django.http import HttpRequest, HttpResponse
from django.template import loader

from shared.models import ROOM_RULE
from shared.protocol import is_valid_room

CHAT_PREFIX = "/chat/"


def room_hint(path: str) -> dict[str, str] | None:
    """For a path under /chat/ whose room name is not valid: {rule, suggestion?} (a valid
    lower-cased room path), else None. Paths elsewhere, or deeper than one segment, are None."""
    if not path.startswith(CHAT_PREFIX):
        return None
    name = path[len(CHAT_PREFIX) :].removesuffix("/")
    if not name or "/" in name:
        return None
    hint = {"rule": ROOM_RULE}
    if is_valid_room(name.lower()):
        hint["suggestion"] = name.lower()
    return hint


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    context = {"room_hint": room_hint(request.path)}
    return HttpResponse(loader.render_to_string("404.html", context, request), status=404)


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return HttpResponse(loader.render_to_string("400.html", {}, request), status=400)


def forbidden(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return HttpResponse(loader.render_to_string("403.html", {}, request), status=403)


def server_error(request: HttpRequest) -> HttpResponse:
    # No request context: whatever broke (the database, a context processor) must not break
    # this page too. So no user menu and no CSRF token; the navigation still works.
    return HttpResponse(loader.render_to_string("500.html", {}), status=500)
