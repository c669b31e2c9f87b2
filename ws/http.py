"""The only HTTP Daphne answers: a health check for the orchestrator, this worker's metrics for
Prometheus, and a 404 for the rest."""

from collections.abc import Awaitable, Callable
from typing import Any

from prometheus_client import make_asgi_app

from shared import metrics

NOT_HERE = b"404: this server serves only WebSocket endpoints under /ws/; pages come from the web server.\n"
# Multiprocess mode (the local stack): every worker's values are in one directory, which the
# web server's /metrics reads; this worker's own registry would be empty.
METRICS_ELSEWHERE = b"404: in multiprocess mode the web server's /metrics covers this worker.\n"

_own_metrics = make_asgi_app(metrics.registry())


async def not_a_page_server(
    scope: dict[str, Any], receive: Callable[[], Awaitable[dict]], send: Callable[[dict], Awaitable[None]]
) -> None:
    """Plain HTTP that reaches Daphne is a routing mistake (or a health probe, or a scrape): say so briefly."""
    if scope["path"] == "/metrics" and metrics.multiprocess_dir() is None:
        await _own_metrics(scope, receive, send)
        return
    if scope["path"] == "/healthz":
        status, body = 200, b"ok\n"
    else:
        status, body = 404, METRICS_ELSEWHERE if scope["path"] == "/metrics" else NOT_HERE
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
