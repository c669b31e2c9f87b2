"""Daphne's entry point: WebSocket routes only; plain HTTP gets a short 404 (or /healthz)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shared.settings")
# Sets Django up before anything imports models (consumers, auth middleware): every import
# below must come after it, hence their E402.
get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from shared.errors import report_asgi_errors  # noqa: E402
from ws.http import not_a_page_server  # noqa: E402
from ws.origin import SameOriginMiddleware  # noqa: E402
from ws.routing import websocket_urlpatterns  # noqa: E402

router = ProtocolTypeRouter(
    {
        "http": not_a_page_server,
        "websocket": SameOriginMiddleware(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)
# With SENTRY_DSN set, an exception escaping a consumer is reported (shared/errors.py).
application = report_asgi_errors(router)
