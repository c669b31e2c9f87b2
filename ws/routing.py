"""Every WebSocket endpoint, one line each (docs/protocol.md describes what each speaks)."""

from django.urls import path, re_path

from ws.consumers.chat import ChatConsumer
from ws.consumers.ping import PingConsumer
from ws.consumers.presence import PresenceConsumer
from ws.consumers.public import PublicConsumer
from ws.consumers.refuse import RefuseConsumer

websocket_urlpatterns = [
    path("ws/ping/", PingConsumer.as_asgi()),
    path("ws/public/", PublicConsumer.as_asgi()),
    # Any room name without a slash reaches the consumer, which closes a bad one with 4404.
    path("ws/chat/<str:room>/", ChatConsumer.as_asgi()),
    path("ws/presence/", PresenceConsumer.as_asgi()),
    # Last: any other path is refused at the handshake instead of raising in the router.
    re_path(r"", RefuseConsumer.as_asgi()),
]
