"""When a session stops signing its user in (shared/sessions.py), and what announces it."""

import json
from datetime import timedelta

import pytest
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
from django.contrib.auth.hashers import make_password
from django.contrib.sessions.models import Session
from django.test import Client, override_settings
from django.utils import timezone

from shared import sessions
from shared.sessions import ended_sessions, hub_message, session_tag, signs_in

MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"
PASSWORD = "correct-horse-battery-staple"


@pytest.fixture(autouse=True)
def fast_hashing(settings):
    """PBKDF2's real cost (a second per password on this machine) tests nothing here."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def user(pk: int = 7, password: str = PASSWORD, **fields):
    return get_user_model()(pk=pk, username=f"user{pk}", password=make_password(password, salt="s" * 22), **fields)


def session_of(someone, backend: str = MODEL_BACKEND) -> dict:
    """What django.contrib.auth.login() writes into a session."""
    return {
        SESSION_KEY: str(someone.pk),
        BACKEND_SESSION_KEY: backend,
        HASH_SESSION_KEY: someone.get_session_auth_hash(),
    }


# ---------------------------------------------------------------- the rule, without a database


def test_a_session_written_at_sign_in_still_signs_its_user_in():
    alice = user()
    assert signs_in(session_of(alice), "7", alice)


@pytest.mark.parametrize(
    ("case", "change"),
    [
        ("the session is gone or expired", lambda data, someone: (None, someone)),
        ("the session was flushed (empty)", lambda data, someone: ({}, someone)),
        ("the user is deleted or refused by the backend", lambda data, someone: (data, None)),
        ("the password changed", lambda data, someone: (data, user(password="another-password-entirely"))),
        ("the user is deactivated", lambda data, someone: (data, user(is_active=False))),
        ("the session has no auth hash", lambda data, someone: ({**data, HASH_SESSION_KEY: ""}, someone)),
        ("the session names another user", lambda data, someone: ({**data, SESSION_KEY: "8"}, someone)),
        ("the backend is no longer configured", lambda data, someone: ({**data, BACKEND_SESSION_KEY: "x.Y"}, someone)),
    ],
)
def test_a_session_stops_signing_in_when(case, change):
    alice = user()
    data, now = change(session_of(alice), alice)
    assert not signs_in(data, "7", now), case


def test_a_socket_signed_in_as_another_user_is_not_signed_in_by_this_session():
    bob = user(pk=8)
    assert not signs_in(session_of(bob), "7", bob)


def test_a_hash_made_with_a_fallback_secret_key_still_signs_in():
    """As get_user: rotating SECRET_KEY (old key in SECRET_KEY_FALLBACKS) signs nobody out."""
    alice = user()
    with override_settings(SECRET_KEY="old-key-" + "x" * 50):
        old = session_of(alice)
    with override_settings(SECRET_KEY="new-key-" + "y" * 50, SECRET_KEY_FALLBACKS=["old-key-" + "x" * 50]):
        assert signs_in(old, "7", alice)
    with override_settings(SECRET_KEY="new-key-" + "y" * 50, SECRET_KEY_FALLBACKS=[]):
        assert not signs_in(old, "7", alice)


def test_events_carry_a_digest_of_the_session_key_never_the_key():
    tag = session_tag("abc123")
    assert len(tag) == 64
    assert "abc123" not in tag
    assert tag == session_tag("abc123") != session_tag("abc124")
    assert json.loads(hub_message({"sessions": [tag]})["text"]) == {"sessions": [tag]}


def test_the_group_is_the_one_the_workers_hub_joins_for_the_topic():
    from ws.hub import group_name

    assert sessions.group_name() == group_name(sessions.TOPIC)


# ---------------------------------------------------------------- the batch check, on the database


def signed_in_browser(username: str) -> tuple[Client, str, str]:
    someone = get_user_model().objects.create_user(username, password=PASSWORD)
    browser = Client()
    assert browser.login(username=username, password=PASSWORD)
    return browser, browser.session.session_key, str(someone.pk)


@pytest.mark.django_db
def test_the_batch_check_finds_each_way_a_session_ends():
    browsers = {name: signed_in_browser(name) for name in ("kept", "out", "expired", "pw", "inactive", "deleted")}
    signed_in = {key: user_id for _, key, user_id in browsers.values()}
    assert ended_sessions(signed_in) == set()

    browsers["out"][0].post("/accounts/logout/")
    Session.objects.filter(session_key=browsers["expired"][1]).update(expire_date=timezone.now() - timedelta(1))
    users = get_user_model().objects
    changed = users.get(username="pw")
    changed.set_password("a-new-password-entirely")
    changed.save()
    users.filter(username="inactive").update(is_active=False)
    users.filter(username="deleted").delete()

    ended = ended_sessions(signed_in)
    assert ended == {browsers[name][1] for name in ("out", "expired", "pw", "inactive", "deleted")}


@pytest.mark.django_db
def test_the_batch_check_reads_in_chunks(monkeypatch):
    monkeypatch.setattr(sessions, "QUERY_CHUNK", 2)
    signed_in = dict(signed_in_browser(f"u{n}")[1:] for n in range(5))
    assert ended_sessions(signed_in) == set()
    assert ended_sessions({**signed_in, "no-such-session": "1"}) == {"no-such-session"}


# ---------------------------------------------------------------- what announces an end


@pytest.fixture
def published(monkeypatch) -> list[dict]:
    events: list[dict] = []
    monkeypatch.setattr(sessions, "_publish", events.append)
    monkeypatch.setattr(sessions, "_recent", type("Recent", (), {})())
    return events


@pytest.mark.django_db
def test_a_sign_out_announces_its_session_once(published, django_capture_on_commit_callbacks):
    browser, key, _ = signed_in_browser("leaving")
    published.clear()
    with django_capture_on_commit_callbacks(execute=True):
        browser.post("/accounts/logout/")
    assert published == [{"sessions": [session_tag(key)]}]


@pytest.mark.django_db
def test_a_password_change_announces_the_user_and_the_old_session(published, django_capture_on_commit_callbacks):
    """update_session_auth_hash gives the changing browser a new key: the old one has ended."""
    from django.contrib.auth import update_session_auth_hash

    browser, key, user_id = signed_in_browser("changing")
    someone = get_user_model().objects.get(pk=user_id)
    request = type("Request", (), {"session": browser.session, "user": someone})()
    published.clear()
    with django_capture_on_commit_callbacks(execute=True):
        someone.set_password("a-new-password-entirely")
        someone.save()
        update_session_auth_hash(request, someone)
    assert {"users": [user_id]} in published
    assert {"sessions": [session_tag(key)]} in published


@pytest.mark.django_db
def test_deactivating_or_deleting_a_user_announces_them(published, django_capture_on_commit_callbacks):
    _, _, user_id = signed_in_browser("gone")
    someone = get_user_model().objects.get(pk=user_id)
    with django_capture_on_commit_callbacks(execute=True):
        someone.is_active = False
        someone.save()
    assert published == [{"users": [user_id]}]
    published.clear()
    with django_capture_on_commit_callbacks(execute=True):
        someone.delete()
    # Each change is announced, however close together: the workers' check of the first may
    # have run before the second committed.
    assert published == [{"users": [user_id]}]


@pytest.mark.django_db
def test_signing_in_and_clearing_expired_or_guest_sessions_announce_nothing(
    published, django_capture_on_commit_callbacks
):
    """A sign-in saves last_login only, and swaps a guest session (which signed nobody in) for a
    new one; clearsessions deletes expired sessions, whose sockets the heartbeat has closed."""
    get_user_model().objects.create_user("arriving", password=PASSWORD)
    browser = Client()
    browser.get("/")  # a guest session with a display name
    with django_capture_on_commit_callbacks(execute=True):
        assert browser.login(username="arriving", password=PASSWORD)
        Session.objects.update(expire_date=timezone.now() - timedelta(1))
        Session.objects.all().delete()
    assert published == []


@pytest.mark.django_db
def test_nothing_is_announced_for_a_change_that_is_rolled_back(published, django_capture_on_commit_callbacks):
    from django.db import transaction

    _, _, user_id = signed_in_browser("undone")
    with django_capture_on_commit_callbacks(execute=True):
        try:
            with transaction.atomic():
                get_user_model().objects.get(pk=user_id).save()
                raise RuntimeError("rolled back")
        except RuntimeError:
            pass
        get_user_model().objects.get(pk=user_id).save(update_fields=["last_login"])
    assert published == []


def test_a_redis_outage_never_reaches_the_sign_out(monkeypatch, caplog):
    """The publish fails (no Redis here), is logged once, and later ones skip Redis for a while."""
    calls = []

    async def failing_send(message):
        calls.append(message)
        raise ConnectionError("Redis is down")

    monkeypatch.setattr(sessions, "_send", failing_send)
    monkeypatch.setattr(sessions, "_skip_until", 0.0)
    sessions._publish({"users": ["1"]})
    sessions._publish({"users": ["2"]})
    assert len(calls) == 1
    assert "heartbeat check will find it" in caplog.text
