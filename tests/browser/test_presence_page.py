"""/users/ in real Chromium: two people (two browser contexts) sign up and watch each other
come and go, through the whole stack (default grace 3 s, sweep 1 s)."""

import pytest
from playwright.sync_api import Page, expect

from tests.browser.site import PASSWORD, sign_up

pytestmark = pytest.mark.browser

# A status change must show within this long: online at once, offline after grace (3 s) + one
# sweep (1 s), with room for two busy cores.
COMES_ONLINE_MS = 3_000
GOES_OFFLINE_MS = 8_000
# Long enough for an unwanted offline to have shown: grace + sweep + slack.
STAYS_ONLINE_MS = 5_500


def sign_up_to_users(visitors, stack, prefix: str) -> tuple[Page, str]:
    """A new visitor signs up and lands on /users/, signed in, its socket open."""
    page, username = sign_up(visitors, stack, prefix)
    expect(page).to_have_url(stack.url + "/users/")
    expect(page.locator("#conn-state")).to_have_attribute("data-state", "open")
    return page, username


def row(page: Page, username: str):
    return page.locator(f'li[data-username="{username}"]')


def test_two_users_watch_each_other_come_and_go(visitors, stack):
    """Bob appears online on Alice's list; two tabs, one closed: still online; both closed:
    offline with a last seen; Alice signs out and Bob sees her go."""
    alice, alice_name = sign_up_to_users(visitors, stack, "alice")
    bob, bob_name = sign_up_to_users(visitors, stack, "bob")

    # Bob signed up after Alice's page was served: his row is added live, and shows online.
    expect(row(alice, bob_name)).to_have_attribute("data-online", "true", timeout=COMES_ONLINE_MS)
    expect(row(alice, bob_name).locator(".presence__status")).to_have_text("Online")
    expect(row(bob, alice_name)).to_have_attribute("data-online", "true")

    # A second tab on another page; closing the first keeps Bob online.
    second_tab = bob.context.new_page()
    second_tab.goto(stack.url + "/private/")
    expect(second_tab.locator("#conn-state")).to_have_attribute("data-state", "open")
    bob.close()
    alice.wait_for_timeout(STAYS_ONLINE_MS)
    expect(row(alice, bob_name)).to_have_attribute("data-online", "true")

    # Closing the last one: offline after the grace period, last seen just now.
    second_tab.close()
    expect(row(alice, bob_name)).to_have_attribute("data-online", "false", timeout=GOES_OFFLINE_MS)
    expect(row(alice, bob_name).locator(".presence__status")).to_have_text("Offline · last seen just now")

    # Bob comes back and watches Alice sign out.
    bob = visitors.open(stack.url + "/accounts/login/")
    bob.fill("#id_username", bob_name)
    bob.fill("#id_password", PASSWORD)
    bob.click("form.auth-form button[type=submit]")
    expect(bob).to_have_url(stack.url + "/users/")
    expect(row(alice, bob_name)).to_have_attribute("data-online", "true", timeout=COMES_ONLINE_MS)
    alice.click("text=Sign out")
    expect(alice).to_have_url(stack.url + "/")
    expect(row(bob, alice_name)).to_have_attribute("data-online", "false", timeout=GOES_OFFLINE_MS)


def test_a_reload_does_not_flicker_for_someone_watching(visitors, stack):
    """Alice reloads her page; Bob's dot for her never leaves "online"."""
    alice, alice_name = sign_up_to_users(visitors, stack, "alice")
    bob, _ = sign_up_to_users(visitors, stack, "bob")
    expect(row(bob, alice_name)).to_have_attribute("data-online", "true", timeout=COMES_ONLINE_MS)
    # Record every change of Alice's dot on Bob's page (devtools evaluation, not a page script).
    bob.evaluate(
        """(name) => {
            window.dotChanges = [];
            const row = document.querySelector(`li[data-username="${name}"]`);
            new MutationObserver(() => window.dotChanges.push(row.dataset.online))
                .observe(row, {attributes: true, attributeFilter: ['data-online']});
        }""",
        alice_name,
    )
    alice.reload()
    expect(alice.locator("#conn-state")).to_have_attribute("data-state", "open")
    alice.goto(stack.url + "/private/")  # moving to another page is a reload too
    expect(alice.locator("#conn-state")).to_have_attribute("data-state", "open")
    bob.wait_for_timeout(STAYS_ONLINE_MS)
    assert bob.evaluate("window.dotChanges") == []
    expect(row(bob, alice_name)).to_have_attribute("data-online", "true")


def test_the_users_page_asks_a_visitor_to_sign_in_first(visitors, stack):
    """Anonymous visitors are sent to the sign-in form, and come back after signing in."""
    page = visitors.open(stack.url + "/users/")
    expect(page).to_have_url(stack.url + "/accounts/login/?next=/users/")
    expect(page.locator("h1")).to_have_text("Sign in")


def test_signing_out_in_another_tab_ends_every_open_pages_socket(visitors, stack):
    """Alice's /users/ and /private/ tabs stay open while a third tab signs her out: within 2 s
    the server closes both sockets (4401). /users/ needs sign-in and says so instead of
    reconnecting; /private/ serves guests too, so it goes on measuring as a guest at once."""
    users_tab, _ = sign_up_to_users(visitors, stack, "alice")
    private_tab = users_tab.context.new_page()
    private_tab.goto(stack.url + "/private/")
    expect(private_tab.locator("#conn-state")).to_have_attribute("data-state", "open")
    private_tab.evaluate(
        """() => {
          const el = document.querySelector('#conn-state');
          window.states = [];
          new MutationObserver(() => window.states.push(el.dataset.state)).observe(el, {attributes: true});
        }"""
    )
    users_tab.wait_for_timeout(1_000)  # past each socket's first session check
    third_tab = users_tab.context.new_page()
    third_tab.goto(stack.url + "/")
    third_tab.click("text=Sign out")
    expect(third_tab).to_have_url(stack.url + "/")
    state = users_tab.locator("#conn-state")
    expect(state).to_have_attribute("data-state", "closed", timeout=2_000)
    expect(state).to_contain_text("Sign in to connect")
    private_tab.wait_for_function("window.states.includes('reconnecting')", timeout=2_000)
    expect(private_tab.locator("#conn-state")).to_have_attribute("data-state", "open", timeout=2_000)
