"""Sessions that sign sockets in: whether one still does, and the news that one has ended.

A socket is signed in by the session cookie of its handshake. When that session ends — sign-out,
a flush, expiry, a password change, the user deactivated or deleted — every socket it signed in
must close (4401), on every Daphne worker (ws/sessions.py):

- What the app sees happen is announced at once: the process where it happens (Gunicorn, a
  management command, Daphne itself) publishes an event on the `sessions` topic of the
  workers' hub (ws/hub.py) when the transaction commits. `{"sessions": [tag, …]}` ends
  those sessions outright; `{"users": [id, …]}` asks the workers to check those users' sessions
  again now (a password, `is_active`, or the user row itself changed).
- What it cannot see (expiry, a change made directly in the database) is found by each worker's
  check of all its signed-in sockets every heartbeat, with `ended_sessions()`.

Session keys are credentials: only their `session_tag()` travels through Redis.
"""

import asyncio
import hashlib
import json
import logging
import threading
import time
from collections.abc import Collection, Iterable, Mapping
from importlib import import_module
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model, load_backend
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.signals import user_logged_out
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.utils import timezone
from django.utils.crypto import constant_time_compare

from shared import metrics
from shared.redis import REDIS_DOWN

log = logging.getLogger(__name__)

# The hub topic the Daphne workers subscribe to for these events (ws/sessions.py).
TOPIC = "sessions"
# A sign-out never waits longer than this on Redis; a lost event is caught by the heartbeat.
PUBLISH_TIMEOUT_SECONDS = 1.0
# After a failed publish, later ones in this process are skipped for this long (logged once),
# so that a Redis outage costs each sign-out nothing; the heartbeat check covers the gap.
PUBLISH_BACKOFF_SECONDS = 5.0
# Session keys per database query (well under SQLite's limit on bound variables).
QUERY_CHUNK = 500


def session_tag(session_key: str) -> str:
    """What identifies a session in events: a SHA-256 of its key (64 hex digits), never the key."""
    return hashlib.sha256(session_key.encode()).hexdigest()


# ---------------------------------------------------------------- the rule


def signs_in(data: Mapping[str, Any] | None, user_id: str, user: AbstractBaseUser | None) -> bool:
    """Whether a session still signs in the user a socket was opened as.

    `data` is the session's decoded contents (None or empty: it no longer exists or has
    expired), `user_id` the id (as a string) the socket was signed in as, and `user` that user
    as its authentication backend returns it now (None: deleted, or refused by the backend).
    The rule is django.contrib.auth.get_user's: the session names that user and a configured
    backend, and its auth hash (HASH_SESSION_KEY) equals the user's current
    `get_session_auth_hash()` — which changes with the password — or one made with a
    SECRET_KEY_FALLBACKS key. And the user is still active.
    """
    if not data or user is None:
        return False
    if str(data.get(SESSION_KEY)) != user_id or str(user.pk) != user_id:
        return False
    if data.get(BACKEND_SESSION_KEY) not in settings.AUTHENTICATION_BACKENDS:
        return False
    if not getattr(user, "is_active", True):
        return False
    if not hasattr(user, "get_session_auth_hash"):
        return True  # as get_user: a user model without auth hashes is not verified
    session_hash = data.get(HASH_SESSION_KEY)
    if not session_hash:
        return False
    return constant_time_compare(session_hash, user.get_session_auth_hash()) or any(
        constant_time_compare(session_hash, fallback) for fallback in user.get_session_auth_fallback_hash()
    )


def ended_sessions(signed_in: Mapping[str, str]) -> set[str]:
    """The session keys of `signed_in` (session key -> user id as a string) that no longer sign
    their user in (`signs_in`). Two queries per QUERY_CHUNK sessions with the database engines.

    Raises the database's errors: the caller keeps its sockets and tries again later.
    """
    if not signed_in:
        return set()
    sessions = _load_sessions(signed_in.keys())
    users = _load_users(set(signed_in.values()))
    ended = set()
    for key, user_id in signed_in.items():
        data = sessions.get(key)
        if not signs_in(data, user_id, _as_backend_returns(data, user_id, users)):
            ended.add(key)
    return ended


def _load_sessions(keys: Iterable[str]) -> dict[str, dict[str, Any]]:
    """The decoded data of each session that exists and has not expired, by key."""
    store_class = import_module(settings.SESSION_ENGINE).SessionStore
    keys = list(keys)
    if not hasattr(store_class, "get_model_class"):  # cache, signed cookies: one load per key
        loaded = {key: store_class(key).load() for key in keys}
        return {key: data for key, data in loaded.items() if data}
    model = store_class.get_model_class()
    decoder = store_class()
    found = {}
    now = timezone.now()
    for start in range(0, len(keys), QUERY_CHUNK):
        rows = model.objects.filter(session_key__in=keys[start : start + QUERY_CHUNK], expire_date__gt=now)
        for key, encoded in rows.values_list("session_key", "session_data"):
            found[key] = decoder.decode(encoded)
    return found


def _load_users(user_ids: Collection[str]) -> dict[str, AbstractBaseUser]:
    model = get_user_model()
    ids = [model._meta.pk.to_python(user_id) for user_id in user_ids]
    found = {}
    for start in range(0, len(ids), QUERY_CHUNK):
        for user in model._default_manager.filter(pk__in=ids[start : start + QUERY_CHUNK]):
            found[str(user.pk)] = user
    return found


def _as_backend_returns(
    data: Mapping[str, Any] | None, user_id: str, users: Mapping[str, AbstractBaseUser]
) -> AbstractBaseUser | None:
    """The user as the session's backend's get_user() would return it (ModelBackend: from the
    batch just read, refused when `user_can_authenticate` says no)."""
    path = (data or {}).get(BACKEND_SESSION_KEY)
    if path not in settings.AUTHENTICATION_BACKENDS:
        return None
    backend = load_backend(path)
    if isinstance(backend, ModelBackend):
        user = users.get(user_id)
        return user if user is not None and backend.user_can_authenticate(user) else None
    return backend.get_user(user_id)


# ---------------------------------------------------------------- announcing


def session_ended(session_key: str | None) -> None:
    """Announce that a session ended: its sockets close on every worker, without a check."""
    if session_key:
        _announce({"sessions": [session_tag(session_key)]})


def user_changed(user_id: Any) -> None:
    """Announce that a user changed (password, is_active, deleted): the workers check that
    user's sessions again at once."""
    _announce({"users": [str(user_id)]})


def group_name() -> str:
    """The channel-layer group of the workers' `sessions` topic (ws/hub.py's group_name)."""
    return f"{settings.REDIS_KEY_PREFIX}.{TOPIC}"


def hub_message(event: dict[str, list[str]]) -> dict[str, str]:
    """A frame for the workers' hubs, as their Hub.publish() sends it (ws/hub.py)."""
    return {"type": "hub.frame", "topic": TOPIC, "text": json.dumps(event)}


_skip_until = 0.0
# The last event announced by this thread, and when: a sign-out is seen twice (the signal,
# then the session's deletion) and announced once.
_recent = threading.local()
REPEAT_WINDOW_SECONDS = 1.0


def _announce(event: dict[str, list[str]]) -> None:
    now = time.monotonic()
    if "sessions" in event:  # an end is final: once is enough (a user's change may come twice)
        if getattr(_recent, "event", None) == event and now - _recent.at < REPEAT_WINDOW_SECONDS:
            return
        _recent.event, _recent.at = event, now
    # Once the change is committed: a worker that checks the user again must see it, and a
    # change rolled back ended nothing.
    transaction.on_commit(lambda: _publish(event))


def _publish(event: dict[str, list[str]]) -> None:
    """Send the event to every worker; a Redis outage is logged, never raised to the caller."""
    global _skip_until
    if time.monotonic() < _skip_until:
        return
    try:
        async_to_sync(_send)(hub_message(event))
    except (TimeoutError, *REDIS_DOWN) as error:
        metrics.PUBLISH_FAILURES.labels(TOPIC).inc()
        _skip_until = time.monotonic() + PUBLISH_BACKOFF_SECONDS
        log.warning(
            "could not announce an ended session (%s); the workers' heartbeat check will find it. "
            "Not trying again for %s s",
            error,
            PUBLISH_BACKOFF_SECONDS,
        )


async def _send(message: dict[str, str]) -> None:
    await asyncio.wait_for(get_channel_layer().group_send(group_name(), message), PUBLISH_TIMEOUT_SECONDS)


# ---------------------------------------------------------------- what the app sees happen


def connect_receivers() -> None:
    """Announce every end of a session that goes through Django (called from AppConfig.ready,
    so Gunicorn, Daphne and management commands all announce)."""
    user_logged_out.connect(_on_signed_out, dispatch_uid="sessions.signed_out")
    store_class = import_module(settings.SESSION_ENGINE).SessionStore
    if hasattr(store_class, "get_model_class"):
        post_delete.connect(_on_session_deleted, sender=store_class.get_model_class(), dispatch_uid="sessions.deleted")
    user_model = get_user_model()
    post_save.connect(_on_user_saved, sender=user_model, dispatch_uid="sessions.user_saved")
    post_delete.connect(_on_user_deleted, sender=user_model, dispatch_uid="sessions.user_deleted")


def _on_signed_out(sender, request=None, user=None, **kwargs) -> None:
    session = getattr(request, "session", None)
    if user is not None and session is not None:
        session_ended(session.session_key)


def _on_session_deleted(sender, instance, **kwargs) -> None:
    """A flush, a new key (sign-in, password change) or a deletion by hand. Expired sessions
    (clearsessions) and guests' sessions signed no socket in that the heartbeat has not closed."""
    if instance.expire_date > timezone.now() and SESSION_KEY in instance.get_decoded():
        session_ended(instance.session_key)


def _on_user_saved(sender, instance, created=False, update_fields=None, **kwargs) -> None:
    # A sign-in saves last_login alone: nothing that could end a session.
    if not created and not (update_fields is not None and set(update_fields) <= {"last_login"}):
        user_changed(instance.pk)


def _on_user_deleted(sender, instance, **kwargs) -> None:
    user_changed(instance.pk)
