"""Who a visitor is to other people: their username when signed in, else a display name kept in
their session (set by any page on the first visit, changed from the public board).

A guest never appears under a registered username: a guest name is checked against every
account's key (shared.models.AccountName: case, compatibility forms and invisible characters do
not count) when it is chosen and again whenever it is used, so a name chosen before somebody
signed up under it is replaced by a fresh guest name the next time it would be shown.
"""

import secrets
from collections.abc import Iterable
from importlib import import_module
from typing import Any

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser

from shared.models import AccountName, account_name_key
from shared.protocol import ProtocolError, clean_name, name_key

SESSION_NAME_KEY = "display_name"
# Generated guest names start with this; sign-up refuses usernames that do (web/forms.py), so a
# generated name can never be an account's.
GUEST_PREFIX = "guest-"


def guest_name() -> str:
    """A name a visitor has before choosing one: short, unlikely to collide, clearly a guest."""
    return f"{GUEST_PREFIX}{secrets.token_hex(2)}"


def is_signed_in(user: AbstractBaseUser | AnonymousUser | None) -> bool:
    return user is not None and user.is_authenticated


def is_account_name(name: str) -> bool:
    """True when a reader could not tell `name` from some account's username (one indexed query)."""
    return AccountName.objects.filter(key=account_name_key(name)).exists()


def account_names_among(names: Iterable[str], batch: int = 500) -> set[str]:
    """Those of `names` that a reader could not tell from some account's username: one indexed
    query per `batch` names (a worker checks all its guests' names this way, shared keys once)."""
    by_key: dict[str, list[str]] = {}
    for name in set(names):
        by_key.setdefault(account_name_key(name), []).append(name)
    keys = list(by_key)
    taken: set[str] = set()
    for start in range(0, len(keys), batch):
        for key in AccountName.objects.filter(key__in=keys[start : start + batch]).values_list("key", flat=True):
            taken.update(by_key[key])
    return taken


def is_reserved_for_guests(name: str) -> bool:
    """Names shaped like generated guest names (sign-up refuses them)."""
    return name_key(name).startswith(GUEST_PREFIX)


def guest_may_use(name: object) -> bool:
    """A guest may go by `name`: it passes the name rule as it is and no account holds its key."""
    try:
        valid = clean_name(name) == name
    except ProtocolError:
        return False
    return valid and not is_account_name(name)


def display_name_reads_database(user: AbstractBaseUser | AnonymousUser | None, session: Any) -> bool:
    """False when `display_name` will not touch the database: a signed-in user, or a session
    with no name to check and no row to save (a script's socket); such callers skip a thread hop."""
    if is_signed_in(user) or session is None:
        return False
    return session.get(SESSION_NAME_KEY) is not None or bool(session.session_key)


def display_name(user: AbstractBaseUser | AnonymousUser | None, session: Any) -> str:
    """The name to show for this visitor: the username when signed in, else the session's name
    while a guest may still use it, else a new guest name, kept in the session (saved at once
    when the session exists already; a new one is saved with the page's response). Reads the
    database: call it from sync code."""
    if is_signed_in(user):
        return user.get_username()
    name = session.get(SESSION_NAME_KEY) if session is not None else None
    if name is not None and guest_may_use(name):
        return name
    replacement = guest_name()
    if session is not None:
        session[SESSION_NAME_KEY] = replacement
        if session.session_key:
            session.save()
    return replacement


def current_guest_name(session: Any, fallback: str) -> str:
    """A guest's name as their session holds it now, read afresh (a socket's copy of the session
    is as old as its handshake): the name they chose on the board since, or the replacement that
    another of their sockets already gave them once an account took their name — so every
    socket of one visitor agrees on one name. `fallback` names a visitor whose session has none
    (or who has no session). Reads the database: call it from sync code."""
    session_key = getattr(session, "session_key", None)
    if not session_key:
        return fallback if guest_may_use(fallback) else guest_name()
    fresh = import_module(settings.SESSION_ENGINE).SessionStore(session_key)
    if fresh.get(SESSION_NAME_KEY) is None:
        fresh[SESSION_NAME_KEY] = fallback
    return display_name(None, fresh)
