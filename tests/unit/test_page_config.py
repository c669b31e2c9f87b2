"""The config each live page is served with (json_script "page-config", read by
web/static/js/page.js) carries the server's own close codes and limits: the JS retypes none."""

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.test import Client, override_settings

from shared import protocol
from shared.redis import redis_client
from shared.roundtrip import LOST_AFTER_MS

pytestmark = pytest.mark.django_db

JS = Path(__file__).resolve().parents[2] / "web" / "static" / "js"
PAGES = ["/private/", "/public/", "/chat/lobby/", "/users/"]
CLOSE_CODES = {
    "service_restart": protocol.CLOSE_SERVICE_RESTART,
    "sign_in_required": protocol.CLOSE_SIGN_IN_REQUIRED,
    "unknown_room": protocol.CLOSE_UNKNOWN_ROOM,
}


@pytest.fixture
def member() -> Iterator[Client]:
    """A signed-in browser (/users/ is for members), with Redis unreachable: no page needs it."""
    browser = Client()
    browser.force_login(get_user_model().objects.create_user("ada", password="irrelevant-here"))
    with override_settings(REDIS_URL="redis://127.0.0.1:1/0"):
        redis_client.cache_clear()
        yield browser
    redis_client.cache_clear()


def served_config(browser: Client, path: str) -> dict:
    response = browser.get(path)
    assert response.status_code == 200, path
    found = re.search(r'<script id="page-config" type="application/json">(.*?)</script>', response.content.decode())
    assert found, f"{path} has no page-config"
    return json.loads(found.group(1))


@pytest.mark.parametrize("path", PAGES)
def test_every_live_page_is_told_its_socket_and_the_servers_close_codes(member, path):
    config = served_config(member, path)
    assert config["ws_path"].startswith("/ws/")
    assert config["close_codes"] == CLOSE_CODES


def test_the_pages_are_told_the_servers_limits(member):
    public = served_config(member, "/public/")
    assert public["name_max_chars"] == protocol.NAME_MAX_CHARS
    assert public["delay_max_ms"] == protocol.DELAY_MAX_MS
    assert public["lost_after_ms"] == LOST_AFTER_MS
    assert served_config(member, "/private/")["lost_after_ms"] == LOST_AFTER_MS
    assert served_config(member, "/chat/lobby/")["max_chars"] == protocol.CHAT_TEXT_MAX_CHARS


@pytest.mark.parametrize("code", sorted(CLOSE_CODES.values()))
def test_no_close_code_is_retyped_in_js(code):
    for module in JS.glob("*.js"):
        assert not re.search(rf"\b{code}\b", module.read_text()), f"{module.name} retypes {code}"
