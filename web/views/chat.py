"""Chat pages: the rooms, with who is in each right now, and one room with its last messages
(its socket, /ws/chat/<room>/, brings the new ones live)."""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django import forms
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.timesince import timesince
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_safe

from shared.chat import active_rooms, member_counts, open_room, recent_messages
from shared.identity import display_name
from shared.models import ROOM_NAME_VALIDATOR, ROOM_RULE
from shared.protocol import CHAT_TEXT_MAX_CHARS, is_valid_room
from shared.redis import redis_client

log = logging.getLogger(__name__)

# The same rule for the browser's own check, so most mistakes never make a round trip. Browsers
# compile `pattern` with the `v` flag, where a bare "-" in a class is a syntax error.
BROWSER_ROOM_PATTERN = r"[a-z0-9_\-]{1,64}"


class RoomForm(forms.Form):
    # The model's rule (a model field's own formfield would leave its validators out). Its
    # pattern bounds the length too; no max_length, whose `maxlength` attribute would cut a
    # pasted name silently where the pattern says what is wrong.
    name = forms.CharField(
        label="Room name",
        help_text=ROOM_RULE,
        validators=[ROOM_NAME_VALIDATOR],
        widget=forms.TextInput(attrs={"pattern": BROWSER_ROOM_PATTERN, "placeholder": "lobby", "autocomplete": "off"}),
    )


@dataclass(frozen=True)
class RoomRow:
    name: str
    last_activity_at: datetime
    members: int | None  # None: unknown (Redis unreachable)

    @property
    def last_activity(self) -> str:
        # timesince says "0 minutes" for the last minute.
        if timezone.now() - self.last_activity_at < timedelta(minutes=1):
            return "just now"
        return f"{timesince(self.last_activity_at)} ago"


def room_rows() -> list[RoomRow]:
    """The most recently active rooms, with their open sockets counted in Redis."""
    rooms = active_rooms()
    counts = member_counts(redis_client(), [room.name for room in rooms])
    if counts is None:
        log.warning("chat rooms: member counts unavailable (Redis unreachable)")
    return [RoomRow(room.name, room.last_activity_at, counts[room.name] if counts else None) for room in rooms]


@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def rooms(request: HttpRequest) -> HttpResponse:
    """GET: the rooms and a form to open one by name; POST: open (or create) it."""
    form = RoomForm(request.POST if request.method == "POST" else None)
    if form.is_bound and form.is_valid():
        return redirect("chat-room", room=open_room(form.cleaned_data["name"]).name)
    rows = room_rows()
    counts_known = all(row.members is not None for row in rows)
    return render(request, "web/chat_rooms.html", {"rooms": rows, "counts_known": counts_known, "form": form})


@never_cache
@require_safe
def room(request: HttpRequest, room: str) -> HttpResponse:
    """A room by name; its last messages are in the page, so they show before the socket opens."""
    if not is_valid_room(room):
        raise Http404("no such room: room names are 1-64 of a-z, 0-9, - and _")
    config = {
        "ws_path": f"/ws/chat/{room}/",
        "room": room,
        "you": display_name(request.user, request.session),
        "guest": not request.user.is_authenticated,
        "messages": recent_messages(room),
        "max_chars": CHAT_TEXT_MAX_CHARS,
    }
    return render(request, "web/chat_room.html", {"room": room, "config": config})
