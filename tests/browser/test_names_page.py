"""Names in real Chromium: the pages count characters as the server does (code points after the
same trimming, limits from the page config, nothing cut silently), every name is shown in its
own bidi isolate, and guests are marked as guests."""

import uuid

import pytest
from playwright.sync_api import Page, expect

from tests.browser.site import open_board, sign_up

pytestmark = pytest.mark.browser

# 20 code points, 40 UTF-16 units: `maxlength="32"` cut this to 16 emoji without a word.
TWENTY_EMOJI = "😀😁😂🤣😃😄😅😆😉😊😋😎😍😘🥰😗😙😚🙂🤗"


def row_of(page: Page, name: str):
    return page.locator("#board-rows tr", has=page.locator("bdi.name", has_text=name))


def isolated(locator) -> list[bool]:
    """For each element: is it a bidi isolate (its computed unicode-bidi)?"""
    return locator.evaluate_all("(els) => els.map((el) => getComputedStyle(el).unicodeBidi === 'isolate')")


def test_a_20_emoji_name_typed_into_the_rename_box_is_accepted_whole_and_shown_on_the_board(visitors, stack):
    """Issue 9: the box cut it to 16 emoji; now all 20 are typed, sent and shown to others."""
    watcher = open_board(visitors, stack)
    page = open_board(visitors, stack)
    box = page.locator("#rename-input")
    box.fill("")
    box.press_sequentially(TWENTY_EMOJI)
    assert box.input_value() == TWENTY_EMOJI
    page.click("#rename-form button")
    expect(row_of(watcher, TWENTY_EMOJI)).to_have_count(1, timeout=5000)
    expect(row_of(page, TWENTY_EMOJI)).to_have_count(1, timeout=5000)
    expect(page.locator("#rename-error")).to_be_hidden()


def test_a_33_character_name_gets_a_clear_message_and_changes_nothing(visitors, stack):
    """33 code points (66 UTF-16 units) are refused in the page, saying what the limit is and
    how many there are; 32 emoji, set by script like any value, are accepted."""
    page = open_board(visitors, stack)
    before = page.locator("#rename-input").input_value()
    page.fill("#rename-input", "😀" * 33)
    page.click("#rename-form button")
    expect(page.locator("#rename-error")).to_be_visible()
    expect(page.locator("#rename-error")).to_have_text("A name is 1 to 32 characters; this one has 33.")
    expect(row_of(page, before)).to_have_count(1)
    page.evaluate("(name) => { document.getElementById('rename-input').value = name; }", "  " + "🙂" * 32 + "  ")
    page.click("#rename-form button")
    expect(row_of(page, "🙂" * 32)).to_have_count(1, timeout=5000)
    expect(page.locator("#rename-error")).to_be_hidden()


def test_the_limits_come_from_the_server_and_no_field_cuts_silently(visitors, stack):
    """The page config carries the limits; no name or message field has a maxlength."""
    board = open_board(visitors, stack)
    config = board.evaluate("JSON.parse(document.getElementById('page-config').textContent)")
    assert (config["name_max_chars"], config["delay_max_ms"]) == (32, 60000)
    assert board.locator("#rename-input[maxlength]").count() == 0
    room = visitors.open(stack.url + f"/chat/names-{uuid.uuid4().hex[:6]}/")
    config = room.evaluate("JSON.parse(document.getElementById('page-config').textContent)")
    assert config["max_chars"] == 2000
    assert room.locator("#composer-text[maxlength]").count() == 0
    rooms = visitors.open(stack.url + "/chat/")
    assert rooms.locator("input[name=name][maxlength]").count() == 0


def test_a_guest_cannot_take_a_members_name_and_is_marked_as_a_guest(visitors, stack):
    """A guest typing a member's name (in capitals) is refused with a clear message; on the board
    the member's row is unmarked and the guest's carries a "guest" tag."""
    member, username = sign_up(visitors, stack)
    member.goto(stack.url + "/public/")
    expect(member.locator("#conn-state")).to_have_attribute("data-state", "open")
    guest = open_board(visitors, stack)
    guest_name = guest.locator("#rename-input").input_value()
    guest.fill("#rename-input", username.upper())
    guest.click("#rename-form button")
    expect(guest.locator("#rename-error")).to_contain_text("belongs to an account")

    expect(row_of(member, username)).to_have_count(1, timeout=5000)
    expect(row_of(member, username).locator(".tag-guest")).to_have_count(0)
    expect(row_of(member, guest_name)).to_have_count(1, timeout=5000)
    expect(row_of(member, guest_name).locator(".tag-guest")).to_have_text("guest")


def test_every_name_on_every_page_is_a_bidi_isolate(visitors, stack):
    """Board rows and activity, chat authors and the "you appear as" line, the users list and the
    header: each name is its own isolate, so a right-to-left name cannot flip its line."""
    member, username = sign_up(visitors, stack)
    member.goto(stack.url + "/public/")
    expect(member.locator("#conn-state")).to_have_attribute("data-state", "open")
    guest = open_board(visitors, stack)
    rtl = "שלום (עולם)"
    guest.fill("#rename-input", rtl)
    guest.click("#rename-form button")
    expect(row_of(member, rtl)).to_have_count(1, timeout=5000)
    expect(member.locator("#activity bdi", has_text=rtl)).to_have_count(1, timeout=5000)

    names = member.locator("#board-rows td:first-child bdi, #activity bdi, .account__name")
    assert len(isolated(names)) >= 4
    assert all(isolated(names))
    assert all(isolated(guest.locator("#board-rows td:first-child bdi")))

    room = f"names-{uuid.uuid4().hex[:6]}"
    for page, text in ((member, "from the member"), (guest, "from the guest")):
        page.goto(f"{stack.url}/chat/{room}/")
        expect(page.locator("#conn-state")).to_have_attribute("data-state", "open")
        page.fill("#composer-text", text)
        page.press("#composer-text", "Enter")
    authors = member.locator("#messages .chat-message__author")
    expect(authors).to_have_text([username, rtl], timeout=5000)
    assert all(isolated(authors))
    assert all(isolated(member.locator("#you")))
    tags = member.locator("#messages .chat-message").locator(".tag-guest")
    expect(tags).to_have_count(1)
    expect(member.locator("#messages .chat-message", has_text="from the guest").locator(".tag-guest")).to_have_count(1)

    member.goto(stack.url + "/users/")
    listed = member.locator(".presence__name")
    expect(listed.first).to_be_visible()
    assert all(isolated(listed))


def test_a_refused_chat_message_says_why_and_goes_back_in_the_box(visitors, stack):
    """Text the server refuses (a C1 control, U+0085) is explained and not lost; 2000 emoji
    (4000 UTF-16 units) are sent whole."""
    page = visitors.open(stack.url + f"/chat/names-{uuid.uuid4().hex[:6]}/")
    expect(page.locator("#conn-state")).to_have_attribute("data-state", "open")
    page.fill("#composer-text", "one\u0085two")
    page.press("#composer-text", "Enter")
    expect(page.locator("#chat-notice")).to_contain_text("U+0085")
    expect(page.locator("#composer-text")).to_have_value("one\u0085two")
    page.fill("#composer-text", "😀" * 2000)
    page.press("#composer-text", "Enter")
    expect(page.locator("#messages .chat-message__text")).to_have_text(["😀" * 2000], timeout=5000)
