"""/chat/ and /chat/<room>/ in real Chromium through the whole stack: two visitors chatting,
markup shown as text, opening rooms by name, and catching up after the workers restart."""

import re
import sqlite3

import pytest
from django.contrib.sessions.backends.db import SessionStore
from playwright.sync_api import Page, expect

from shared.identity import SESSION_NAME_KEY
from tests.chatclient import unique_room

pytestmark = pytest.mark.browser

SCRIPT_TEXT = "<script>window.__pwned = 1</script>"
IMG_TEXT = '<img src="x" onerror="window.__pwned = 1">'
# The same, within a name's 32 characters (a longer session name is replaced at display time).
IMG_NAME = "<img src=x onerror=__pwned=1>"


def open_room(visitors, stack, room: str) -> Page:
    page = visitors.open(f"{stack.url}/chat/{room}/")
    expect(page.locator("#conn-state")).to_have_attribute("data-state", "open")
    return page


def send(page: Page, text: str) -> None:
    page.fill("#composer-text", text)
    page.press("#composer-text", "Enter")


def shown_texts(page: Page) -> list[str]:
    return page.locator("#messages .chat-message__text").all_text_contents()


def rename_in_session(stack, page: Page, name: str) -> None:
    """Give this visitor a display name the way the public board does: in their session row."""
    key = next(c["value"] for c in page.context.cookies() if c["name"] == "sessionid")
    store = SessionStore()
    with sqlite3.connect(stack.run_dir / "db.sqlite3") as db:
        (data,) = db.execute("SELECT session_data FROM django_session WHERE session_key = ?", (key,)).fetchone()
        session = store.decode(data)
        session[SESSION_NAME_KEY] = name
        db.execute("UPDATE django_session SET session_data = ? WHERE session_key = ?", (store.encode(session), key))


def test_two_visitors_chat_live(visitors, stack):
    """What one types appears on the other's page at once, and the other way round."""
    room = unique_room("duo")
    ada, bob = open_room(visitors, stack, room), open_room(visitors, stack, room)
    expect(ada.locator("#chat-empty")).to_be_visible()
    send(ada, "hello Bob")
    expect(bob.locator("#messages .chat-message__text")).to_have_text(["hello Bob"])
    send(bob, "hi Ada\nhow are you?")
    expect(ada.locator("#messages .chat-message__text")).to_have_text(["hello Bob", "hi Ada\nhow are you?"])
    expect(ada.locator("#composer-text")).to_have_value("")
    expect(ada.locator(".chat-message--mine .chat-message__text")).to_have_text(["hello Bob"])
    expect(bob.locator(".chat-message--mine .chat-message__text")).to_have_text(["hi Ada\nhow are you?"])
    expect(bob.locator("#chat-empty")).to_be_hidden()


def test_markup_in_messages_and_names_is_shown_as_text_never_run(visitors, stack):
    """A <script> message and an <img onerror> name and message render literally: no element, no run."""
    room = unique_room("xss")
    mallory = visitors.open(f"{stack.url}/chat/{room}/")
    rename_in_session(stack, mallory, IMG_NAME)
    mallory.reload()
    expect(mallory.locator("#conn-state")).to_have_attribute("data-state", "open")
    expect(mallory.locator("#you")).to_have_text(IMG_NAME)
    victim = open_room(visitors, stack, room)
    send(mallory, SCRIPT_TEXT)
    send(mallory, IMG_TEXT)
    for page in (victim, mallory):
        expect(page.locator("#messages .chat-message__text")).to_have_text([SCRIPT_TEXT, IMG_TEXT])
        expect(page.locator("#messages .chat-message__author")).to_have_text([IMG_NAME, IMG_NAME])
        assert page.locator("#messages img, #messages script").count() == 0
        assert page.evaluate("window.__pwned") is None
    # A newcomer gets the same from the page's own data (json_script), before the socket says a word.
    late = visitors.open(f"{stack.url}/chat/{room}/")
    expect(late.locator("#messages .chat-message__text")).to_have_text([SCRIPT_TEXT, IMG_TEXT])
    assert late.locator("#messages img, #messages script").count() == 0


def test_a_room_is_opened_by_name_and_listed_with_its_members(visitors, stack):
    """The form on /chat/ leads to the room; another visitor sees it listed with one member."""
    room = unique_room("named")
    opener = visitors.open(f"{stack.url}/chat/")
    opener.fill("#id_name", room)
    opener.click(".room-form button")
    expect(opener).to_have_url(f"{stack.url}/chat/{room}/")
    expect(opener.locator("#conn-state")).to_have_attribute("data-state", "open")
    send(opener, "first!")
    expect(opener.locator("#messages .chat-message__text")).to_have_text(["first!"])
    lister = visitors.open(f"{stack.url}/chat/")
    row = lister.locator(f'tr[data-room="{room}"]')
    expect(row.locator(".rooms__members")).to_have_text("1")
    row.locator("a").click()
    expect(lister.locator("#messages .chat-message__text")).to_have_text(["first!"])


def test_a_bad_room_name_in_the_form_is_explained(visitors, stack):
    """Spaces are refused with the rule, on the same page (capitals alone are lower-cased)."""
    page = visitors.open(f"{stack.url}/chat/")
    page.fill("#id_name", "Not A Room")
    # The browser's own check (pattern) would stop the form; the server's answer is what we test.
    page.eval_on_selector(".room-form", "form => form.noValidate = true")
    page.click(".room-form button")
    expect(page.locator(".room-form .form-error")).to_contain_text("lower-case letters")
    expect(page).to_have_url(f"{stack.url}/chat/")


def test_after_the_workers_restart_the_page_catches_up_without_duplicates(visitors, stack):
    """Both pages reconnect by themselves; the history they get again adds nothing twice, and
    a message sent while one page was away shows up once."""
    visitors.expect_errors(r"WebSocket connection to .* failed")
    room = unique_room("restart")
    ada, bob = open_room(visitors, stack, room), open_room(visitors, stack, room)
    send(ada, "one")
    send(ada, "two")
    expect(bob.locator("#messages .chat-message__text")).to_have_text(["one", "two"])
    try:
        # Stopped, then started: a restart drains (1012) and the page is back before it returns.
        stack.ctl("stop", "ws:*")
        expect(ada.locator("#conn-state")).not_to_have_attribute("data-state", "open", timeout=10_000)
        stack.ctl("start", "ws:*")
        expect(ada.locator("#conn-state")).to_have_attribute("data-state", "open", timeout=30_000)
        send(ada, "three")
        expect(bob.locator("#conn-state")).to_have_attribute("data-state", "open", timeout=30_000)
    finally:
        stack.wait_until_ready(30)
    for page in (ada, bob):
        expect(page.locator("#messages .chat-message__text")).to_have_text(["one", "two", "three"])
        ids = page.locator("#messages .chat-message").evaluate_all("items => items.map(i => i.dataset.id)")
        assert len(ids) == len(set(ids)) == 3
        assert all(re.fullmatch(r"\d+", i) for i in ids)
