"""The baselines: the least a Channels consumer can do with a frame (send it back).

`EchoConsumer` is stock Channels. `LeanEchoConsumer` also skips the thread hop that Channels
makes before every message (`aclose_old_connections()`), exactly as the app's own consumers
do (ws/consumers/base.py), so the app can be compared with and without that advantage.
"""

from channels.generic.websocket import AsyncWebsocketConsumer

from ws.consumers.base import ProtocolConsumer


class EchoConsumer(AsyncWebsocketConsumer):
    channel_layer_alias = None

    async def receive(self, text_data=None, bytes_data=None):
        await self.send(text_data=text_data)


class LeanEchoConsumer(EchoConsumer):
    dispatch = ProtocolConsumer.dispatch
