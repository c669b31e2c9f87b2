"""Who a visitor is to other people: their username when signed in, else a display name kept in
their session (set by any page on the first visit, changed from the public board)."""

import secrets
from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser

SESSION_NAME_KEY = "display_name"


def guest_name() -> str:
    """A name a visitor has before choosing one: short, unlikely to collide, clearly a guest."""
    return f"guest-{secrets.token_hex(2)}"


def display_name(user: AbstractBaseUser | AnonymousUser | None, session: Any) -> str:
    """The name to show for this visitor (sessions without a name get a one-off guest name)."""
    if user is not None and user.is_authenticated:
        return user.get_username()
    name = session.get(SESSION_NAME_KEY) if session is not None else None
    return name or guest_name()
