"""The handshake origin check through nginx and Daphne, on every endpoint: only the site's own
origin (scheme, host and port) opens a socket; another port, another scheme, `null` or no Origin
at all is refused with 403 before any consumer runs."""

import pytest
import websockets
from websockets.exceptions import InvalidStatus

pytestmark = pytest.mark.stack

ENDPOINTS = ("/ws/ping/", "/ws/public/", "/ws/chat/lobby/", "/ws/presence/")


async def handshake_status(stack, path: str, origin: str | None, headers: dict[str, str] | None = None) -> int:
    """101 if the socket opened, else the HTTP status of the refusal."""
    try:
        async with websockets.connect(
            f"{stack.ws_url}{path}", origin=origin, additional_headers=headers, open_timeout=10
        ):
            return 101
    except InvalidStatus as refused:
        return refused.response.status_code


@pytest.mark.parametrize("path", ENDPOINTS)
async def test_the_sites_own_origin_opens_every_endpoint(stack, path):
    assert await handshake_status(stack, path, stack.url) == 101


@pytest.mark.parametrize("path", ENDPOINTS)
async def test_another_port_of_the_same_host_is_refused(stack, path):
    """A page served from another port of 127.0.0.1 cannot open the visitor's sockets."""
    assert await handshake_status(stack, path, f"http://127.0.0.1:{stack.port + 1}") == 403
    assert await handshake_status(stack, path, "http://127.0.0.1") == 403


@pytest.mark.parametrize("path", ENDPOINTS)
async def test_another_scheme_is_refused_even_with_a_forged_forwarded_proto(stack, path):
    """nginx tells Daphne the real scheme (http here); a client's own X-Forwarded-Proto is replaced."""
    https_origin = stack.url.replace("http://", "https://")
    assert await handshake_status(stack, path, https_origin) == 403
    assert await handshake_status(stack, path, https_origin, {"X-Forwarded-Proto": "https"}) == 403


@pytest.mark.parametrize("path", ENDPOINTS)
async def test_null_and_missing_origins_are_refused(stack, path):
    assert await handshake_status(stack, path, "null") == 403
    assert await handshake_status(stack, path, None) == 403


@pytest.mark.parametrize("path", ENDPOINTS)
async def test_another_host_is_refused(stack, path):
    assert await handshake_status(stack, path, "http://evil.example") == 403
    assert await handshake_status(stack, path, f"http://localhost.evil.example:{stack.port}") == 403
