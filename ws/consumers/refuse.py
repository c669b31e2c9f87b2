"""Refuses the handshake of a socket to a path no endpoint serves (Daphne answers 403)."""

from channels.generic.websocket import AsyncWebsocketConsumer


class RefuseConsumer(AsyncWebsocketConsumer):
    channel_layer_alias = None

    async def connect(self) -> None:
        await self.close()
