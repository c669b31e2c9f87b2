"""Every page, error pages included, in real Chromium at 390x844 and 1280x800, light and dark:
no axe-core violation, no sideways scrolling on a phone, and the site's own look (skip link,
navigation) on the error pages. With SCREENSHOT_DIR set, each is also saved as a PNG."""

import uuid

import pytest
from django.template import loader
from playwright.sync_api import expect

from tests.browser.site import PHONE, check_page, horizontal_overflow, submit_sign_up

pytestmark = pytest.mark.browser

SCHEMES = ["light", "dark"]
# Pages that anyone can open, with a name for screenshots; live pages wait for their socket.
PAGES = {
    "home": "/",
    "private": "/private/",
    "public": "/public/",
    "chat": "/chat/",
    "room": "/chat/lobby/",
    "login": "/accounts/login/",
    "signup": "/accounts/signup/",
    "not-found": "/no/such/page/",
    "room-miss": "/chat/Lobby/",
}


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("name", PAGES)
def test_every_page_fits_a_phone_and_has_no_axe_violation(visitors, stack, name, scheme):
    page = visitors.open(stack.url + PAGES[name], viewport=PHONE, color_scheme=scheme)
    if name in {"not-found", "room-miss"}:
        visitors.expect_errors("404")  # Chromium logs the status of a page that is a 404
    check_page(page, name, scheme)


@pytest.mark.parametrize("scheme", SCHEMES)
def test_the_users_page_signed_in_fits_a_phone_and_has_no_axe_violation(visitors, stack, scheme):
    page = visitors.open(stack.url + "/accounts/signup/?next=/users/", viewport=PHONE, color_scheme=scheme)
    submit_sign_up(page, f"axe-{uuid.uuid4().hex[:6]}")
    expect(page).to_have_url(stack.url + "/users/")
    check_page(page, "users", scheme)


def test_an_unknown_page_is_the_sites_own_404_with_navigation(visitors, stack):
    visitors.expect_errors("404")
    page = visitors.open(stack.url + "/no/such/page/", viewport=PHONE, color_scheme="dark")
    expect(page.locator("h1")).to_have_text("Page not found")
    expect(page.get_by_role("navigation", name="Main").get_by_role("link", name="Chat")).to_be_visible()
    # Styled and dark: the page's background is the site's dark one, not the browser's white.
    assert page.evaluate("() => getComputedStyle(document.body).backgroundColor") == "rgb(15, 20, 26)"


def test_a_room_miss_says_the_rule_and_links_the_lower_case_room(visitors, stack):
    visitors.expect_errors("404")
    page = visitors.open(stack.url + "/chat/Lobby/", viewport=PHONE)
    expect(page.locator("h1")).to_have_text("No such room")
    expect(page.locator(".error-page")).to_contain_text("1 to 64 lower-case letters")
    page.get_by_role("link", name="lobby", exact=True).click()
    expect(page).to_have_url(stack.url + "/chat/lobby/")


def test_the_room_form_opens_lobby_for_Lobby(visitors, stack):
    page = visitors.open(stack.url + "/chat/", viewport=PHONE)
    page.fill("#id_name", "Lobby")
    page.click(".room-form button")
    expect(page).to_have_url(stack.url + "/chat/lobby/")


@pytest.mark.parametrize("scheme", SCHEMES)
def test_an_expired_form_gets_the_sites_own_403(visitors, stack, scheme):
    visitors.expect_errors("403")
    page = visitors.open(stack.url + "/chat/", viewport=PHONE, color_scheme=scheme)
    page.context.clear_cookies()  # as if the session and its CSRF cookie had gone
    page.fill("#id_name", "lobby")
    page.click(".room-form button")
    expect(page.locator("h1")).to_have_text("That form has expired")
    check_page(page, "forbidden", scheme)


@pytest.mark.parametrize("scheme", SCHEMES)
def test_the_500_page_fits_a_phone_and_has_no_axe_violation(visitors, stack, scheme):
    """The 500 page as Django renders it (web/views/errors.py), served at a made-up address of
    the stack so its stylesheet and icon load as they would."""
    visitors.expect_errors("500")
    html = loader.render_to_string("500.html", {})
    page = visitors.open(stack.url + "/healthz", viewport=PHONE, color_scheme=scheme)
    page.route(stack.url + "/broken/", lambda route: route.fulfill(status=500, body=html, content_type="text/html"))
    page.goto(stack.url + "/broken/")
    expect(page.locator("h1")).to_have_text("Something went wrong")
    check_page(page, "server-error", scheme)


def test_the_skip_link_is_the_first_tab_stop_and_moves_focus_to_the_page(visitors, stack):
    page = visitors.open(stack.url + "/public/", viewport=PHONE)
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to content")
    expect(skip).to_be_focused()
    expect(skip).to_be_in_viewport()
    page.keyboard.press("Enter")
    expect(page.locator("main#main")).to_be_focused()


def test_names_on_the_public_board_wrap_at_spaces_on_a_phone(visitors, stack):
    """A 25-character name takes at most two lines at 390 px, not one letter per line."""
    page = visitors.open(stack.url + "/public/", viewport=PHONE)
    expect(page.locator("#conn-state")).to_have_attribute("data-state", "open")
    name = "Augusta Ada King Lovelace"
    page.fill("#rename-input", name)
    page.click("#rename-form button")
    cell = page.locator("#board-rows tr", has_text=name).locator("bdi.name")
    expect(cell).to_have_count(1, timeout=5000)
    lines = cell.evaluate("el => el.getBoundingClientRect().height / parseFloat(getComputedStyle(el).lineHeight)")
    assert lines <= 2.2
    assert horizontal_overflow(page) == 0


@pytest.mark.parametrize("scheme", SCHEMES)
def test_nginxs_own_502_page_is_the_sites_and_has_no_axe_violation(visitors, stack, scheme):
    """While Gunicorn is down nginx serves the site's static 50x page (nginx/nginx.conf.template)."""
    visitors.expect_errors("502")
    try:
        stack.ctl("stop", "web")
        page = visitors.open(stack.url + "/chat/", viewport=PHONE, color_scheme=scheme)
        expect(page.locator("h1")).to_have_text("Back in a moment")
        check_page(page, "bad-gateway", scheme)
    finally:
        stack.ctl("start", "web")
        stack.wait_until_ready(30)
