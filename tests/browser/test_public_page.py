"""/public/ in real Chromium: two visitors see each other join, report, rename and leave."""

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.site import open_board

pytestmark = pytest.mark.browser


def row_of(page: Page, name: str):
    return page.locator("#board-rows tr", has_text=name)


def test_two_visitors_see_each_other_join_update_rename_and_leave(visitors, stack):
    """Joins, delays, a <script> rename (shown as text) and a leave all reach the other page live."""
    first = open_board(visitors, stack)
    second = open_board(visitors, stack)
    second_name = second.locator("#rename-input").input_value()

    expect(row_of(first, second_name)).to_have_count(1, timeout=5000)
    expect(first.locator("#activity")).to_contain_text(f"{second_name} joined")
    # The other visitor's delay arrives with the next answers: a number in the Current column.
    expect(row_of(first, second_name).locator("td").nth(1)).to_have_text(re.compile(r"^\d+\.\d$"), timeout=5000)
    expect(first.locator("#sum-median")).to_have_text(re.compile(r"^\d+\.\d$"))

    hostile = "<img src=x onerror=alert(1)>"
    second.fill("#rename-input", hostile)
    second.click("#rename-form button")
    expect(row_of(first, hostile)).to_have_count(1, timeout=5000)
    assert first.locator("#board-rows img").count() == 0  # text, not markup
    expect(first.locator("#activity")).to_contain_text(f"{second_name} is now {hostile}")

    second.context.close()
    expect(row_of(first, hostile)).to_have_count(0, timeout=5000)
    expect(first.locator("#activity")).to_contain_text(f"{hostile} left")


def test_the_page_is_filled_from_redis_before_its_socket_opens(visitors, stack):
    """A visitor already on the board is in the served HTML of the next visitor's page."""
    present = open_board(visitors, stack)
    name = present.locator("#rename-input").input_value()
    # The HTML as served, before any script ran: the rows come from Redis with the page.
    html = present.request.get(stack.url + "/public/").text()
    rows = html[html.index('id="board-rows"') : html.index("</tbody>")]
    assert name in rows


def test_a_bad_name_gets_a_clear_error_and_changes_nothing(visitors, stack):
    """A blank name is refused in the page; the row keeps the old name."""
    page = open_board(visitors, stack)
    name = page.locator("#rename-input").input_value()
    page.fill("#rename-input", "   ")
    page.click("#rename-form button")
    expect(page.locator("#rename-error")).to_be_visible()
    expect(page.locator("#rename-error")).to_contain_text("1 to 32")
    expect(row_of(page, name)).to_have_count(1)
