"""The app's own ASGI application plus /ws/echo/, so both run in the very same Daphne workers
behind the very same nginx (the stack runs this via WS_ASGI_APP)."""

from django.urls import path

from tests.bench.echo import EchoConsumer
from ws import asgi
from ws.routing import websocket_urlpatterns

# Before the app's catch-all refusal, which must stay last.
websocket_urlpatterns.insert(0, path("ws/echo/", EchoConsumer.as_asgi()))
application = asgi.application
