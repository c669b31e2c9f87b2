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
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from shared.chat import active_rooms, member_counts, open_room, recent_messages
from shared.identity import SESSION_NAME_KEY, display_name, is_account_name, is_reserved_for_guests, is_signed_in
from shared.models import ROOM_NAME_VALIDATOR, ROOM_RULE
from shared.protocol import CHAT_TEXT_MAX_CHARS, NAME_MAX_CHARS, ProtocolError, clean_name, is_valid_room
from shared.redis import redis_client
from web.views.pageconfig import page_config

log = logging.getLogger(__name__)

# The same rule for the browser's own check, so most mistakes never make a round trip; upper
# case is let through, the form lower-cases it. Browsers compile `pattern` with the `v` flag,
# where a bare "-" in a class is a syntax error.
BROWSER_ROOM_PATTERN = r"[A-Za-z0-9_\-]{1,64}"


class RoomNameField(forms.CharField):
    """A room name as typed: trimmed and lower-cased ("Lobby" opens "lobby"), then the rule."""

    def to_python(self, value: object) -> str:
        return super().to_python(value).lower()


class RoomForm(forms.Form):
    # The model's rule (a model field's own formfield would leave its validators out). Its
    # pattern bounds the length too; no max_length, whose `maxlength` attribute would cut a
    # pasted name silently where the pattern says what is wrong.
    name = RoomNameField(
        label="Room name",
        help_text=f"{ROOM_RULE} Capitals are made lower-case.",
        validators=[ROOM_NAME_VALIDATOR],
        widget=forms.TextInput(attrs={"pattern": BROWSER_ROOM_PATTERN, "placeholder": "lobby", "autocomplete": "off"}),
    )


class GuestNameForm(forms.Form):
    """A guest's name in a room, by the public board's rename rules: the one name rule
    (shared.protocol.clean_name), not a generated guest-… name, not an account's; kept in the
    session, where chat reads it."""

    # No max_length: its `maxlength` counts UTF-16 units and cuts silently; clean_name counts.
    name = forms.CharField(
        label="Your name",
        strip=False,
        help_text=f"1 to {NAME_MAX_CHARS} characters.",
        widget=forms.TextInput(attrs={"autocomplete": "nickname", "dir": "auto"}),
    )

    def clean_name(self) -> str:
        try:
            name = clean_name(self.cleaned_data["name"])
        except ProtocolError as error:
            raise forms.ValidationError(error.detail) from None
        if is_reserved_for_guests(name):
            raise forms.ValidationError("Names starting with guest- are given by the server; pick another.")
        if is_account_name(name):
            raise forms.ValidationError("That name belongs to an account; pick another.")
        return name


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
    return render_room(request, room, GuestNameForm())


@never_cache
@require_POST
def room_name(request: HttpRequest, room: str) -> HttpResponse:
    """A guest sets their name from a room: kept in the session (the next message carries it,
    as after a rename on the public board), then back to the room. Signed-in users keep their
    username (403); a bad name re-renders the room with the reason (400)."""
    if not is_valid_room(room):
        raise Http404("no such room")
    if is_signed_in(request.user):
        return HttpResponse("Signed-in users appear under their username.", status=403)
    form = GuestNameForm(request.POST)
    if not form.is_valid():
        return render_room(request, room, form, status=400)
    request.session[SESSION_NAME_KEY] = form.cleaned_data["name"]
    return redirect("chat-room", room=room)


def render_room(request: HttpRequest, room: str, name_form: GuestNameForm, status: int = 200) -> HttpResponse:
    config = page_config(
        f"/ws/chat/{room}/",
        room=room,
        you=display_name(request.user, request.session),
        guest=not request.user.is_authenticated,
        messages=recent_messages(room),
        max_chars=CHAT_TEXT_MAX_CHARS,
    )
    if not name_form.is_bound:
        name_form = GuestNameForm(initial={"name": config["you"]})
    context = {"room": room, "config": config, "name_form": name_form}
    return render(request, "web/chat_room.html", context, status=status)
