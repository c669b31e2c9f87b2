"""Accounts and names (shared/identity.py, shared/models.AccountName, the sign-up form): no two
accounts and no guest go by names a reader cannot tell apart; the sign-up form follows the name
rule every name follows."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.sessions.backends.db import SessionStore
from django.db import IntegrityError, transaction
from django.test import Client

from shared.identity import SESSION_NAME_KEY, display_name, guest_may_use, is_account_name
from shared.models import AccountName

pytestmark = pytest.mark.django_db

PASSWORD = "a-long-enough-passphrase-9"


def sign_up(client: Client, username: str):
    return client.post("/accounts/signup/", {"username": username, "password1": PASSWORD, "password2": PASSWORD})


def create(username: str):
    return get_user_model().objects.create_user(username, password=PASSWORD)


# ---------------------------------------------------------------- the sign-up form


def test_an_ordinary_username_signs_up_and_gets_its_key(client):
    """The form still creates accounts; each gets a key row."""
    response = sign_up(client, "José_Ñúñez")
    assert response.status_code == 302
    user = get_user_model().objects.get()
    assert user.username == "José_Ñúñez"
    assert AccountName.objects.get().user == user


@pytest.mark.parametrize("other", ["alice", "ALICE", "\uff21\uff2c\uff29\uff23\uff25", "Alice"])
def test_sign_up_refuses_a_username_that_reads_as_an_existing_one(client, other):
    """Django compares case only; the key also folds full-width and other compatibility forms."""
    create("Alice")
    response = sign_up(client, other)
    assert response.status_code == 200
    assert "already exists" in " ".join(response.context["form"].errors["username"])
    assert get_user_model().objects.count() == 1


@pytest.mark.parametrize(
    ("username", "why"),
    [
        ("\u3164", "visible"),  # a Hangul filler is a \w letter for Django's validator
        ("\u3164\u3164\u3164", "visible"),
        ("a" * 33, "1 to 32"),
        ("guest-3fa1", "visitors without an account"),
        ("GUEST-beef", "visitors without an account"),
    ],
)
def test_sign_up_applies_the_name_rule_with_a_clear_message(client, username, why):
    """The same rule as board names (shared.protocol.clean_name), shown on the form."""
    response = sign_up(client, username)
    assert response.status_code == 200
    errors = " ".join(response.context["form"].errors["username"])
    assert why in errors
    assert why in response.content.decode()
    assert not get_user_model().objects.exists()


def test_the_form_says_the_limit_it_applies_and_cuts_nothing():
    """The help text gives the name limit, not Django's 150; no maxlength cuts what is typed."""
    html = Client().get("/accounts/signup/").content.decode()
    assert "1 to 32 characters" in html
    assert 'name="username"' in html
    assert "maxlength" not in html


def test_two_accounts_that_read_alike_cannot_both_exist_even_outside_the_form():
    """The key's unique index holds for createsuperuser, the admin and a race between sign-ups."""
    create("bob")
    with pytest.raises(IntegrityError), transaction.atomic():
        create("BOB")
    assert list(get_user_model().objects.values_list("username", flat=True)) == ["bob"]


def test_renaming_an_account_moves_its_key():
    """The key follows the username; the old name is free again."""
    user = create("carol")
    user.username = "caroline"
    user.save()
    assert is_account_name("CAROLINE")
    assert not is_account_name("carol")


# ---------------------------------------------------------------- guest names


def session_named(name: str) -> SessionStore:
    session = SessionStore()
    session[SESSION_NAME_KEY] = name
    session.save()
    return session


def test_a_guest_keeps_a_valid_name_no_account_holds():
    """The ordinary case changes nothing."""
    session = session_named("Ada 👩\u200d💻")
    assert display_name(None, session) == "Ada 👩\u200d💻"


@pytest.mark.parametrize("stored", ["ALICE", "alice", "\uff41lice", "\u202eevil", "\u200b", "a\u009bb"])
def test_a_guest_name_an_account_now_holds_or_the_rule_refuses_is_replaced_and_saved(stored):
    """Chosen before alice signed up, or before the name rule: a new guest name, kept."""
    create("Alice")
    session = session_named(stored)
    name = display_name(None, session)
    assert name.startswith("guest-")
    assert SessionStore(session.session_key)[SESSION_NAME_KEY] == name


def test_a_page_shows_the_replacement_too(client):
    """The public page renders the visitor's name from the same rule."""
    client.get("/")  # a session with a guest name
    session = client.session
    session[SESSION_NAME_KEY] = "ALICE"
    session.save()
    create("alice")
    response = client.get("/public/")
    assert response.context["config"]["name"].startswith("guest-")
    assert response.context["config"]["signed_in"] is False


def test_guest_may_use_needs_the_exact_cleaned_name():
    """Untrimmed or non-string values are not names."""
    assert guest_may_use("Ada")
    assert not guest_may_use(" Ada ")
    assert not guest_may_use(42)


def test_a_worker_finds_which_of_its_guests_names_read_as_accounts_in_batches():
    """account_names_among: every form of an account's name, across batch boundaries."""
    from shared.identity import account_names_among

    create("dave")
    create("Eve")
    names = ["DAVE", "dave", "eve", "\uff45ve", "frank", *(f"guest-{n:04x}" for n in range(7))]
    assert account_names_among(names, batch=3) == {"DAVE", "dave", "eve", "\uff45ve"}


def test_display_name_says_when_it_needs_no_database(django_assert_num_queries):
    """A script's socket (no session row, no name) and a signed-in user skip the thread hop;
    display_name then indeed makes no query."""
    from shared.identity import display_name_reads_database

    empty = SessionStore()
    assert not display_name_reads_database(None, empty)
    with django_assert_num_queries(0):
        assert display_name(None, empty).startswith("guest-")
    user = create("henry")
    assert not display_name_reads_database(user, session_named("x"))
    assert display_name_reads_database(None, session_named("x"))
