"""The app's own ASGI application plus the echo baselines, so all of them run in the very same
Daphne workers behind the very same nginx (the stack runs this via WS_ASGI_APP)."""

# ws.asgi first: it sets Django up, which the consumer modules below need at import time.
from ws import asgi  # noqa: I001

from django.urls import path

from tests.bench.echo import EchoConsumer, LeanEchoConsumer, TutorialChatConsumer
from ws.routing import websocket_urlpatterns

# Before the app's catch-all refusal, which must stay last.
websocket_urlpatterns[:0] = [
    path("ws/echo/", EchoConsumer.as_asgi()),
    path("ws/echo-lean/", LeanEchoConsumer.as_asgi()),
    path("ws/tutorial-chat/<str:room>/", TutorialChatConsumer.as_asgi()),
]
application = asgi.application
