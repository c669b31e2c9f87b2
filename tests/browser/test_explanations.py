"""What the figures mean, where they are shown, in real Chromium through the whole stack: the
explanations, the paused state on the page, the lost share, the empty Activity box, and a chat
guest setting their name in the room."""

import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


@pytest.mark.parametrize(
    ("path", "words"), [("/private/", "counted samples (since the page opened)"), ("/public/", "last 300")]
)
def test_the_pages_say_what_p95_jitter_and_lost_mean_and_over_what(visitors, stack, path, words):
    page = visitors.open(stack.url + path)
    help_ = page.locator(".figure-help")
    expect(help_.locator("dl")).to_be_hidden()
    help_.locator("summary").click()
    expect(help_).to_contain_text("95 %")
    expect(help_).to_contain_text("Jitter")
    expect(help_).to_contain_text(words)
    if path == "/private/":
        expect(help_).to_contain_text("Lost")


def test_the_private_page_shows_the_paused_state_and_the_lost_share(visitors, stack):
    page = visitors.open(stack.url + "/private/")
    expect(page.locator("#stat-lost-share")).to_have_text(re.compile(r"^\(0\.0 %\)$"))
    note = page.locator("#paused-note")
    expect(note).to_be_hidden()
    page.click("#pause")
    expect(note).to_be_visible()
    expect(note).to_contain_text("Paused")
    page.click("#pause")
    expect(note).to_be_hidden()


def test_the_empty_activity_box_says_what_will_show_there(visitors, stack):
    first = visitors.open(stack.url + "/public/")
    expect(first.locator("#conn-state")).to_have_attribute("data-state", "open")
    placeholder = first.locator(".activity-empty")
    if first.locator("#activity li").count() == 0:
        expect(placeholder).to_be_visible()
    visitors.open(stack.url + "/public/")  # somebody joins
    expect(first.locator("#activity li").first).to_be_visible(timeout=5000)
    expect(placeholder).to_be_hidden()


def test_a_chat_guest_sets_their_name_in_the_room_and_posts_under_it(visitors, stack):
    visitors.expect_errors("400")  # the refused name at the end is answered with a 400 page
    page = visitors.open(stack.url + "/chat/naming/")
    expect(page.locator("#conn-state")).to_have_attribute("data-state", "open")
    page.get_by_text("Change your name").click()
    page.get_by_label("Your name").fill("Ada Lovelace")
    page.get_by_role("button", name="Set name").click()
    expect(page.locator("#you")).to_have_text("Ada Lovelace")
    expect(page.locator("#conn-state")).to_have_attribute("data-state", "open")
    page.fill("#composer-text", "hello from Ada")
    page.click("#composer-send")
    mine = page.locator("#messages .chat-message", has_text="hello from Ada")
    expect(mine.locator(".chat-message__author")).to_have_text("Ada Lovelace")

    page.get_by_text("Change your name").click()
    page.get_by_label("Your name").fill("x" * 33)
    page.get_by_role("button", name="Set name").click()
    expect(page.locator(".chat-name .form-error")).to_contain_text("1 to 32")
    expect(page.locator("#you")).to_have_text("Ada Lovelace")
