"""The only HTTP Daphne answers: a health check for the orchestrator, and a 404 for the rest."""

from collections.abc import Awaitable, Callable
from typing import Any

NOT_HERE = b"404: this server serves only WebSocket endpoints under /ws/; pages come from the web server.\n"


async def not_a_page_server(
    scope: dict[str, Any], receive: Callable[[], Awaitable[dict]], send: Callable[[dict], Awaitable[None]]
) -> None:
    """Plain HTTP that reaches Daphne is a routing mistake (or a health probe): say so briefly."""
    status, body = (200, b"ok\n") if scope["path"] == "/healthz" else (404, NOT_HERE)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
