"""`/ws/ping/`: answer every ping at once. This path touches neither Redis nor the database."""

import time

from shared.protocol import PING_ENDPOINT, Ping, pong_frame
from ws.consumers.base import ProtocolConsumer


class PingConsumer(ProtocolConsumer):
    accepts = PING_ENDPOINT
    # No channel layer: nothing is ever sent to this consumer from outside, and without a
    # layer its pongs keep flowing while Redis is down.
    channel_layer_alias = None

    async def on_ping(self, ping: Ping) -> None:
        await self.send(text_data=pong_frame(ping, server_time=time.time() * 1000))
