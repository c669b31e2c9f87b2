"""`/ws/ping/`: answer every ping at once (ProtocolConsumer.answer_ping). This path touches neither
Redis nor the database."""

from shared.protocol import PING_ENDPOINT
from ws.consumers.base import ProtocolConsumer


class PingConsumer(ProtocolConsumer):
    accepts = PING_ENDPOINT
    endpoint = "ping"
